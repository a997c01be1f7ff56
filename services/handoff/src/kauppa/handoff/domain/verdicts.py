"""D3: the seller's verdict on an assigned lead. Accept takes the prospect onto the buying
path; return names a reason the source can learn from."""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.contracts import ReturnReason, Verdict
from kauppa.servicekit.refusals import Conflict, NotFound


class LeadStatus:
    REJECTED = "rejected"
    LINKED = "linked"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    RETURNED = "returned"

    # An open handoff: a second source's lead for the same prospect is linked to it.
    OPEN = (QUEUED, ASSIGNED, ACCEPTED)


class VerdictRefused(Conflict):
    """The lead's state or the verdict itself says no (the lead is not awaiting this
    seller's verdict, a return without its reason)."""

    @property
    def reason(self) -> str:
        return self.detail


class UnknownLead(NotFound, VerdictRefused):
    """No such lead (in the caller's organisation). NotFound first: the nearest class
    decides the status at the HTTP edge."""

    def __init__(self) -> None:
        super().__init__("unknown lead")


@dataclass(frozen=True)
class VerdictAccepted:
    verdict: Verdict
    reason_code: ReturnReason | None
    reason_text: str | None


def judge_verdict(
    *,
    status: str | None,
    assigned_seller: str | None,
    seller_id: str,
    verdict: Verdict,
    reason_code: ReturnReason | None,
    reason_text: str | None,
) -> VerdictAccepted | VerdictRefused:
    """Whether this seller may give this verdict now. Only the seller holding an assigned
    lead may; a return needs a reason code, and 'other' needs the free text."""
    if status is None:
        return UnknownLead()
    if status != LeadStatus.ASSIGNED:
        return VerdictRefused(f"lead is {status}, not awaiting a verdict")
    if assigned_seller != seller_id:
        return VerdictRefused("lead is assigned to another seller")
    if verdict == Verdict.ACCEPT:
        return VerdictAccepted(verdict, None, (reason_text or "").strip() or None)
    if reason_code is None:
        return VerdictRefused("a returned lead needs a reason code")
    text = (reason_text or "").strip() or None
    if reason_code == ReturnReason.OTHER and text is None:
        return VerdictRefused("reason 'other' needs a free-text explanation")
    return VerdictAccepted(verdict, reason_code, text)
