"""The period selector: today / 7 d / 30 d / all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"


def period_start(period: Period, now: datetime, timezone: str = "UTC") -> datetime:
    """The first instant counted in ``period``. 'today' starts at local midnight of the
    ops team's time zone, not at UTC midnight; 'all' starts at the beginning of time."""
    if period is Period.ALL:
        return BEGINNING
    if period is Period.TODAY:
        local = now.astimezone(ZoneInfo(timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.astimezone(UTC)
    days = 7 if period is Period.WEEK else 30
    return now - timedelta(days=days)
