"""Which days are business days: Monday to Friday, and not a public holiday of the
country in question.

One definition and one holiday-table cache for every service that counts business days
(handoff's verdict SLA in office hours, confirmation's send-next-business-morning, the
follow-up calendar's due dates): two services that disagreed about a holiday would
disagree about when something is due."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def holidays_of(country: str, year: int) -> holidays.HolidayBase:
    """The public holidays of ``country`` (ISO 3166 code) in ``year``."""
    return holidays.country_holidays(country, years=year)


def is_business_day(day: date, country: str) -> bool:
    """Monday to Friday and not a public holiday of ``country``."""
    return day.weekday() < 5 and day not in holidays_of(country, day.year)


def warm(country: str, year: int) -> None:
    """Load ``country``'s holidays for ``year`` now. The first table in a process loads
    the holiday rules of every country (~0.3 s): better at start-up than inside the
    first batch's transaction. (A day lookup would not do: on a weekend it answers
    without the table.) Each further year's table takes well under a millisecond."""
    holidays_of(country, year)


def countries() -> list[str]:
    """The two-letter ISO 3166 codes with a holiday calendar (for settings that name a
    country)."""
    return sorted(c for c in holidays.list_supported_countries() if len(c) == 2)
