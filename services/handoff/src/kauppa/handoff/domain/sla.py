"""The verdict SLA (D3): a reminder after X hours without a verdict, reassignment to the
next eligible seller after Y hours. Hours count inside business hours when asked to:
working days (no weekends, no public holidays of the office's country), office hours in
the office's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from kauppa.contracts.business_days import is_business_day, warm


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "Europe/Helsinki"
    day_start_hour: int = 8
    day_end_hour: int = 16
    country: str = "FI"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        return is_business_day(day, self.country)

    def warm(self, today: date) -> None:
        """Load this year's holidays now (see ``kauppa.contracts.business_days.warm``)."""
        warm(self.country, today.year)

    def _open_close(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(self.day_start_hour), self.zone)
        if self.day_end_hour >= 24:
            end = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        else:
            end = datetime.combine(day, time(self.day_end_hour), self.zone)
        return start, end

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of office time after ``start`` (UTC in, UTC out)."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.zone)
        for _ in range(3660):  # ten years of days: a guard, never reached in practice
            day = cursor.date()
            working, opens, closes = _day(self, day)
            if working and cursor < closes:
                cursor = max(cursor, opens)
                available = closes - cursor
                if remaining <= available:
                    return (cursor + remaining).astimezone(UTC)
                remaining -= available
            next_day = day + timedelta(days=1)
            cursor = datetime.combine(next_day, time(0), self.zone)
        raise ValueError("no business hours found within ten years")


@lru_cache(maxsize=4096)
def _day(calendar: BusinessCalendar, day: date) -> tuple[bool, datetime, datetime]:
    """A day's working status and office hours (asked for the same days again and again:
    the what-if replay computes deadlines for tens of thousands of assignments)."""
    opens, closes = calendar._open_close(day)
    return calendar.is_working_day(day), opens, closes


@dataclass(frozen=True)
class SlaPolicy:
    reminder_after_hours: float = 4.0
    reassign_after_hours: float = 8.0
    calendar: BusinessCalendar | None = None  # None: plain clock hours

    def __post_init__(self) -> None:
        if self.reassign_after_hours < self.reminder_after_hours:
            raise ValueError("reassignment must not come before the reminder")

    def after(self, start: datetime, hours: float) -> datetime:
        if self.calendar is None:
            return start + timedelta(hours=hours)
        return self.calendar.add_business_hours(start, hours)

    def reminder_at(self, assigned_at: datetime) -> datetime:
        return self.after(assigned_at, self.reminder_after_hours)

    def respond_by(self, assigned_at: datetime) -> datetime:
        """The verdict deadline; at this moment the lead moves to the next seller."""
        return self.after(assigned_at, self.reassign_after_hours)
