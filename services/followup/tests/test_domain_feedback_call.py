"""D13: the feedback call falls due N business days after delivery."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kauppa.followup.domain.calendar import add_business_days, add_months, feedback_call_due


def test_d13_feedback_call_skips_weekend() -> None:
    # Thursday 2026-03-05 + 3 business days = Tuesday 2026-03-10
    assert add_business_days(date(2026, 3, 5), 3, "FI") == date(2026, 3, 10)


def test_d13_feedback_call_skips_finnish_public_holidays() -> None:
    # Thursday 2026-04-02; Good Friday 3.4 and Easter Monday 6.4 are holidays in Finland
    assert add_business_days(date(2026, 4, 2), 3, "FI") == date(2026, 4, 9)


def test_d13_feedback_call_due_at_start_of_sellers_day_in_their_zone() -> None:
    delivered = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)  # already Friday in Helsinki
    due = feedback_call_due(delivered, 3, country="FI", hour=9, timezone="Europe/Helsinki")
    assert due == datetime(2026, 3, 11, 7, 0, tzinfo=UTC)  # Wed 09:00 EET


def test_d16_months_clamp_to_month_end() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 5, tzinfo=UTC), 12) == datetime(2027, 3, 5, tzinfo=UTC)
