"""D13/D14: what the seller should do on a call. Fix open problems first; ask for more
business only when nothing is open, unless the relationship is old enough that the next
order may be proposed along with the fix; always ask for referrals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kauppa.contracts.events.customers import ContactKind, TalkingPoint
from kauppa.followup.domain.calendar import years_between


@dataclass(frozen=True)
class OpenProblem:
    problem_id: str
    description: str


@dataclass(frozen=True)
class CallContext:
    """What the service knows about the relationship when the call falls due."""

    kind: ContactKind
    customer_since: datetime | None
    open_problems: tuple[OpenProblem, ...] = ()
    delivered_items: tuple[str, ...] = ()
    campaign_reason: str | None = None
    products_owned: tuple[str, ...] = field(default_factory=tuple)


def is_long_relationship(ctx: CallContext, now: datetime, long_years: int) -> bool:
    return ctx.customer_since is not None and years_between(ctx.customer_since, now) >= long_years


def may_offer_more_business(ctx: CallContext, now: datetime, long_years: int) -> bool:
    """D14: no offers before earlier problems are fixed, except in the longest
    relationships, where the next order may come along with the fix."""
    return not ctx.open_problems or is_long_relationship(ctx, now, long_years)


def talking_points(ctx: CallContext, now: datetime, long_years: int) -> list[TalkingPoint]:
    points: list[TalkingPoint] = []
    if ctx.campaign_reason:
        points.append(TalkingPoint(code="campaign_reason", text=ctx.campaign_reason))
    if ctx.open_problems:
        listed = "; ".join(p.description for p in ctx.open_problems)
        points.append(TalkingPoint(code="fix_problems", text=f"Fix these first: {listed}"))
    if ctx.kind == ContactKind.FEEDBACK_CALL:
        what = ", ".join(ctx.delivered_items) or "the delivery"
        points.append(
            TalkingPoint(
                code="check_delivery",
                text=f"Check that {what} arrived as ordered and works; fix anything wrong now.",
            )
        )
    if may_offer_more_business(ctx, now, long_years):
        text = (
            "Propose the next order along with the fix (long relationship)."
            if ctx.open_problems
            else "Ask what else they need; offer more business."
        )
        if ctx.kind == ContactKind.FEEDBACK_CALL and not ctx.open_problems:
            text = "If the delivery went well, ask what else they need; offer more business."
        points.append(TalkingPoint(code="ask_more_business", text=text))
    points.append(
        TalkingPoint(
            code="ask_referrals",
            text="Ask for referrals: who else would benefit? (even if none were given before)",
        )
    )
    return points
