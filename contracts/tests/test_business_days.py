"""One definition of a business day for every service (handoff's SLA, confirmation's
send time, followup's due dates)."""

from __future__ import annotations

from datetime import date

from kauppa.contracts.business_days import holidays_of, is_business_day, warm


def test_weekdays_are_business_days_unless_a_public_holiday_of_that_country() -> None:
    assert is_business_day(date(2026, 11, 23), "FI")  # a Monday
    assert not is_business_day(date(2026, 11, 22), "FI")  # a Sunday
    assert not is_business_day(date(2026, 12, 24), "FI")  # Christmas Eve, a Thursday
    assert not is_business_day(date(2026, 6, 19), "FI")  # Midsummer Eve, a Friday
    assert is_business_day(date(2025, 6, 6), "FI")  # Sweden's national day, a Friday
    assert not is_business_day(date(2025, 6, 6), "SE")


def test_warming_loads_the_years_table_once() -> None:
    holidays_of.cache_clear()
    warm("FI", 2027)
    assert holidays_of.cache_info().currsize == 1
    assert not is_business_day(date(2027, 12, 6), "FI")  # Independence Day, a Monday
    assert holidays_of.cache_info().hits == 1
