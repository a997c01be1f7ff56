"""Business days and months: when a feedback call falls due (D13) and what "12 months
after the last contact" means (D16)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kauppa.contracts.business_days import is_business_day


def add_business_days(start: date, days: int, country: str) -> date:
    """The ``days``-th business day after ``start`` (weekends and public holidays skipped)."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day, country):
            left -= 1
    if days == 0:
        while not is_business_day(day, country):
            day += timedelta(days=1)
    return day


def at_local_hour(day: date, hour: int, timezone: str) -> datetime:
    """``hour`` o'clock on ``day`` in ``timezone``, as UTC."""
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def feedback_call_due(
    delivered_at: datetime, business_days: int, *, country: str, hour: int, timezone: str
) -> datetime:
    """D13: the feedback call is due ``business_days`` business days after the delivery
    (counted in the seller's time zone), at the start of the seller's working day."""
    delivered_local = delivered_at.astimezone(ZoneInfo(timezone)).date()
    return at_local_hour(add_business_days(delivered_local, business_days, country), hour, timezone)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later; the day is clamped to the month's end (31 Jan + 1 = 28 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def years_between(start: datetime, end: datetime) -> int:
    """Whole years from ``start`` to ``end``."""
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return max(years, 0)
