"""D13/D14: what the seller should do on the call."""

from __future__ import annotations

from datetime import UTC, datetime

from kauppa.contracts.events.customers import ContactKind
from kauppa.followup.domain.talking_points import CallContext, OpenProblem, talking_points

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROBLEM = (OpenProblem("pb-1", "Two licences missing"),)


def codes(ctx: CallContext) -> list[str]:
    return [p.code for p in talking_points(ctx, NOW, long_years=5)]


def test_d13_feedback_call_checks_delivery_offers_more_and_asks_referrals() -> None:
    ctx = CallContext(ContactKind.FEEDBACK_CALL, datetime(2026, 1, 1, tzinfo=UTC))
    assert codes(ctx) == ["check_delivery", "ask_more_business", "ask_referrals"]


def test_d14_open_problem_comes_first_and_blocks_upsell() -> None:
    ctx = CallContext(ContactKind.SCHEDULED, datetime(2025, 1, 1, tzinfo=UTC), PROBLEM)
    assert codes(ctx) == ["fix_problems", "ask_referrals"]


def test_d14_long_relationship_may_offer_along_with_the_fix() -> None:
    ctx = CallContext(ContactKind.SCHEDULED, datetime(2020, 1, 1, tzinfo=UTC), PROBLEM)
    assert codes(ctx) == ["fix_problems", "ask_more_business", "ask_referrals"]


def test_d14_relationship_just_short_of_threshold_is_not_long() -> None:
    ctx = CallContext(ContactKind.SCHEDULED, datetime(2021, 6, 2, tzinfo=UTC), PROBLEM)
    assert "ask_more_business" not in codes(ctx)


def test_d13_referrals_asked_even_with_problems() -> None:
    ctx = CallContext(ContactKind.FEEDBACK_CALL, None, PROBLEM)
    assert codes(ctx)[-1] == "ask_referrals"
    assert codes(ctx)[0] == "fix_problems"


def test_d17_campaign_reason_leads_the_call() -> None:
    ctx = CallContext(ContactKind.CAMPAIGN, None, campaign_reason="New e-invoicing law")
    points = talking_points(ctx, NOW, 5)
    assert points[0].code == "campaign_reason" and points[0].text == "New e-invoicing law"
