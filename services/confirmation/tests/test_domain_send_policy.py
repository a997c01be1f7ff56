"""D11: when the written confirmation goes out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from kauppa.confirmation.domain.send_policy import (
    OrganisationPolicy,
    decide_send_time,
    is_business_day,
    next_business_morning,
)
from kauppa.contracts.events.confirmations import SendPolicy

HELSINKI = ZoneInfo("Europe/Helsinki")


def hki(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI)  # type: ignore[misc]


def test_d11_friday_afternoon_in_helsinki_goes_on_monday_at_eight() -> None:
    friday = hki(2026, 3, 6, 15, 30)
    at = next_business_morning(friday, "Europe/Helsinki", "FI")
    assert at.astimezone(HELSINKI) == hki(2026, 3, 9, 8, 0)
    assert at == datetime(2026, 3, 9, 6, 0, tzinfo=UTC)  # winter time, UTC+2


def test_d11_summer_time_morning_is_five_utc() -> None:
    at = next_business_morning(hki(2026, 6, 2, 16, 0), "Europe/Helsinki", "FI")
    assert at == datetime(2026, 6, 3, 5, 0, tzinfo=UTC)


def test_d11_public_holidays_from_the_holidays_package_are_skipped() -> None:
    fi = holidays.country_holidays("FI", years=2026)
    assert date(2026, 4, 3) in fi  # Good Friday
    assert date(2026, 4, 6) in fi  # Easter Monday
    at = next_business_morning(hki(2026, 4, 2, 15, 0), "Europe/Helsinki", "FI")
    assert at.astimezone(HELSINKI) == hki(2026, 4, 7, 8, 0)


def test_d11_the_countrys_own_calendar_decides() -> None:
    # 6 June 2025 (a Friday) is Sweden's national day, a working day in Finland.
    assert not is_business_day(date(2025, 6, 6), "SE")
    assert is_business_day(date(2025, 6, 6), "FI")
    closed = datetime(2025, 6, 5, 15, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    se = next_business_morning(closed, "Europe/Stockholm", "SE")
    fi = next_business_morning(closed, "Europe/Stockholm", "FI")
    assert se.astimezone(ZoneInfo("Europe/Stockholm")).date() == date(2025, 6, 9)
    assert fi.astimezone(ZoneInfo("Europe/Stockholm")).date() == date(2025, 6, 6)


def test_d11_closed_before_eight_on_a_business_day_goes_that_morning() -> None:
    at = next_business_morning(hki(2026, 3, 4, 6, 45), "Europe/Helsinki", "FI")
    assert at.astimezone(HELSINKI) == hki(2026, 3, 4, 8, 0)


def test_d11_closed_exactly_at_eight_goes_the_next_business_morning() -> None:
    at = next_business_morning(hki(2026, 3, 4, 8, 0), "Europe/Helsinki", "FI")
    assert at.astimezone(HELSINKI) == hki(2026, 3, 5, 8, 0)


def test_d11_immediate_policy_sends_now() -> None:
    now = datetime(2026, 3, 6, 13, 0, tzinfo=UTC)
    decision = decide_send_time(
        OrganisationPolicy(SendPolicy.IMMEDIATE),
        agreed_at=now,
        now=now,
        seller_timezone="Europe/Helsinki",
        country="FI",
    )
    assert decision.send_at == now and not decision.requires_approval


def test_d12_1_seller_review_policy_waits_for_approval() -> None:
    now = datetime(2026, 3, 6, 13, 0, tzinfo=UTC)
    decision = decide_send_time(
        OrganisationPolicy(SendPolicy.SELLER_REVIEW),
        agreed_at=now,
        now=now,
        seller_timezone="Europe/Helsinki",
        country="FI",
    )
    assert decision.send_at is None and decision.requires_approval


def test_d11_a_backlog_never_schedules_in_the_past() -> None:
    closed = hki(2026, 3, 6, 15, 0)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # processed on Tuesday
    decision = decide_send_time(
        OrganisationPolicy(),
        agreed_at=closed,
        now=now,
        seller_timezone="Europe/Helsinki",
        country="FI",
    )
    assert decision.send_at == now


def test_d11_policy_country_and_hour_override_the_customers() -> None:
    closed = datetime(2025, 6, 5, 15, 0, tzinfo=UTC)
    decision = decide_send_time(
        OrganisationPolicy(SendPolicy.NEXT_BUSINESS_MORNING, country="SE", morning_hour=9),
        agreed_at=closed,
        now=closed,
        seller_timezone="Europe/Stockholm",
        country="FI",
    )
    assert decision.send_at is not None
    local = decision.send_at.astimezone(ZoneInfo("Europe/Stockholm"))
    assert (local.date(), local.hour) == (date(2025, 6, 9), 9)
    assert decision.send_at - closed > timedelta(days=3)
