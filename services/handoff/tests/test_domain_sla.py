"""D3 SLA: reminder at X hours and reassignment at Y hours, in business hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from kauppa.contracts.business_days import holidays_of
from kauppa.handoff.domain.sla import BusinessCalendar, SlaPolicy

HKI = ZoneInfo("Europe/Helsinki")
CAL = BusinessCalendar("Europe/Helsinki", 8, 16, "FI")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=HKI).astimezone(UTC)  # type: ignore[misc]


def test_d3_sla_within_the_same_business_day() -> None:
    policy = SlaPolicy(2, 4, CAL)
    assert policy.reminder_at(at(2026, 3, 2, 9)) == at(2026, 3, 2, 11)
    assert policy.respond_by(at(2026, 3, 2, 9)) == at(2026, 3, 2, 13)


def test_d3_sla_carries_over_the_night_and_the_weekend() -> None:
    policy = SlaPolicy(4, 8, CAL)
    # Friday 14:00 + 4 business hours -> Monday 10:00
    assert policy.reminder_at(at(2026, 3, 6, 14)) == at(2026, 3, 9, 10)
    # Saturday: the clock starts Monday 08:00
    assert policy.respond_by(at(2026, 3, 7, 12)) == at(2026, 3, 9, 16)


def test_d3_sla_skips_finnish_public_holidays() -> None:
    # 2026-12-24..26 are holidays in Finland (Christmas Eve, Christmas, Boxing Day).
    policy = SlaPolicy(2, 4, CAL)
    assert policy.reminder_at(at(2026, 12, 23, 15)) == at(2026, 12, 28, 9)


def test_d3_plain_hours_without_a_calendar() -> None:
    policy = SlaPolicy(4, 8, None)
    assert policy.respond_by(at(2026, 3, 7, 12)) == at(2026, 3, 7, 20)


def test_d3_reassignment_cannot_come_before_the_reminder() -> None:
    with pytest.raises(ValueError):
        SlaPolicy(8, 4, None)


def test_warming_on_a_weekend_loads_the_year_of_holidays() -> None:
    """Start-up loads the holiday rules, also on a Saturday (a day lookup would answer
    "weekend" without them, leaving the load to the first batch's transaction)."""
    holidays_of.cache_clear()
    calendar = BusinessCalendar()
    calendar.warm(date(2026, 11, 21))  # a Saturday
    assert holidays_of.cache_info().currsize == 1
    assert date(2026, 12, 24) in holidays_of("FI", 2026)
