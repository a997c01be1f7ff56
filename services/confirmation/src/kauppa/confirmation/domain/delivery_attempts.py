"""Sending once per (deal, version), and what to do when the mail server says no.

States of one confirmation version::

    scheduled ──timer──▶ due ──claim──▶ sending ──250──▶ sent
    awaiting_approval ─approve─▶ due       │ 4xx / refused ──▶ due (later, backoff)
    held ─approve─▶ due                    │ 5xx / retries exhausted ──▶ failed
    (unsent) ──newer version──▶ superseded │ crash ──lease expires──▶ sending again,
                                             same Message-ID (an interrupted attempt)
    (unsent, incl. sending) ──CustomerErased──▶ erased (terminal: never sent)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from kauppa.servicekit.mail import SmtpOutcome


class ConfirmationState(StrEnum):
    SCHEDULED = "scheduled"
    AWAITING_APPROVAL = "awaiting_approval"
    HELD = "held"
    DUE = "due"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    ERASED = "erased"  # GDPR erasure before it was sent: never sent afterwards


# D12.1: the seller may review, annotate, hold or approve until sending starts.
REVIEWABLE = frozenset(
    {ConfirmationState.SCHEDULED, ConfirmationState.AWAITING_APPROVAL, ConfirmationState.HELD}
)
# A newer version replaces one not yet handed to the mail server.
SUPERSEDABLE = REVIEWABLE | {ConfirmationState.DUE}

# Not yet handed over for good: an erasure stops these (a ``sending`` one is taken back
# from the sender, so a lease expiry cannot resend it).
UNSENT = SUPERSEDABLE | {ConfirmationState.SENDING}

# The seller's separate copy (``copy_state``) has its own track once the customer's send
# is recorded: due -> sending -> sent | failed (erased: the customer was erased first).
COPY_UNSENT = frozenset({ConfirmationState.DUE.value, ConfirmationState.SENDING.value})


def retry_delay(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after the ``attempt``-th failure (1-based): base, 2x, 4x ... cap."""
    return min(base * (2 ** max(attempt - 1, 0)), cap)


@dataclass(frozen=True)
class AttemptVerdict:
    state: ConfirmationState
    retry_in: timedelta | None = None
    failed_permanently: bool = False


def judge_attempt(
    outcome: SmtpOutcome, attempts: int, max_attempts: int, base: timedelta, cap: timedelta
) -> AttemptVerdict:
    """After an attempt: sent, retry later, or failed (permanent or retries exhausted)."""
    if outcome.accepted:
        return AttemptVerdict(ConfirmationState.SENT)
    if outcome.permanent:
        return AttemptVerdict(ConfirmationState.FAILED, failed_permanently=True)
    if attempts >= max_attempts:
        return AttemptVerdict(ConfirmationState.FAILED)
    return AttemptVerdict(ConfirmationState.DUE, retry_in=retry_delay(attempts, base, cap))
