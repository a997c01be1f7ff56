"""The ``Confirmation`` aggregate's verbs (pure: no broker, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kauppa.confirmation.domain.confirmation import (
    NO_RECIPIENT,
    SEND_TIMER,
    Confirmation,
    Drafting,
    timer_key,
)
from kauppa.confirmation.domain.delivery_attempts import AttemptVerdict, ConfirmationState
from kauppa.confirmation.domain.erasure import ERASED_REASON
from kauppa.confirmation.domain.send_policy import OrganisationPolicy, SellerCopy
from kauppa.contracts import examples
from kauppa.contracts.events.confirmations import (
    ConfirmationFailed,
    ConfirmationScheduled,
    ConfirmationSent,
    SendPolicy,
)
from kauppa.servicekit.refusals import Conflict

from .conftest import amendment

# A Wednesday afternoon in Helsinki: the next business morning is Thursday 08:00.
NOW = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
RULES = Drafting(message_id_domain="kauppa.test", default_country="FI")
IMMEDIATE = OrganisationPolicy(SendPolicy.IMMEDIATE)
MORNING = OrganisationPolicy(SendPolicy.NEXT_BUSINESS_MORNING)
REVIEW = OrganisationPolicy(SendPolicy.SELLER_REVIEW)


def drafted(policy: OrganisationPolicy = IMMEDIATE, **deal: object) -> Confirmation:
    confirmation, _ = Confirmation.draft_from_deal(
        examples.deal_closed(closed_at=NOW, **deal), policy, RULES, now=NOW
    )
    return confirmation


def test_d11_immediate_is_due_now_and_announced() -> None:
    deal = examples.deal_closed(closed_at=NOW)
    confirmation, effects = Confirmation.draft_from_deal(deal, IMMEDIATE, RULES, now=NOW)
    assert confirmation.key == f"{deal.deal_id}:v1"
    assert confirmation.state is ConfirmationState.DUE
    assert confirmation.get("next_attempt_at") == NOW
    assert confirmation.message_id == f"<confirmation-{deal.deal_id}-v1@kauppa.test>"
    [scheduled] = effects.events
    assert isinstance(scheduled, ConfirmationScheduled)
    assert scheduled.send_at == NOW and not scheduled.requires_approval
    assert scheduled.checklist == confirmation.get("checklist")
    assert effects.timers == []


def test_d11_next_business_morning_arms_the_send_timer() -> None:
    confirmation, effects = Confirmation.draft_from_deal(
        examples.deal_closed(closed_at=NOW), MORNING, RULES, now=NOW
    )
    assert confirmation.state is ConfirmationState.SCHEDULED
    assert confirmation.get("next_attempt_at") is None
    [timer] = effects.timers
    assert timer.kind == SEND_TIMER and timer.key == timer_key(confirmation.deal_id, 1)
    assert timer.due_at == datetime(2026, 3, 5, 6, 0, tzinfo=UTC)  # 08:00 EET
    assert timer.payload == {"key": confirmation.key}


def test_d12_seller_review_waits_for_approval_and_approve_makes_it_due() -> None:
    confirmation = drafted(REVIEW)
    assert confirmation.state is ConfirmationState.AWAITING_APPROVAL
    later = NOW + timedelta(hours=1)
    effects = confirmation.approve("seller-1", later)
    assert confirmation.state is ConfirmationState.DUE
    assert confirmation.changes == {
        "state": "due",
        "next_attempt_at": later,
        "approved_by": "seller-1",
        "approved_at": later,
    }
    assert [t.cancel for t in effects.timers] == [True]


def test_d12_review_refused_once_sending_started() -> None:
    confirmation = drafted(IMMEDIATE)  # due: already the sender's
    with pytest.raises(Conflict, match="the confirmation is due; it cannot change now"):
        confirmation.approve("seller-1", NOW)
    with pytest.raises(Conflict):
        confirmation.add_note("hello")
    assert confirmation.changes == {}


def test_no_recipient_fails_at_once_permanently() -> None:
    customer = examples.prospect(contact=None)
    confirmation, effects = Confirmation.draft_from_deal(
        examples.deal_closed(closed_at=NOW, customer=customer), IMMEDIATE, RULES, now=NOW
    )
    assert confirmation.state is ConfirmationState.FAILED
    assert confirmation.get("last_error") == NO_RECIPIENT
    scheduled, failed = effects.events
    assert isinstance(scheduled, ConfirmationScheduled)
    assert isinstance(failed, ConfirmationFailed) and failed.permanent


def test_an_amendment_replaces_and_supersedes_the_older_version() -> None:
    deal = examples.deal_closed(closed_at=NOW)
    old = drafted(MORNING, deal_id=deal.deal_id)
    amended = amendment(deal, 2)
    new, _ = Confirmation.draft_from_deal(amended, MORNING, RULES, now=NOW)
    assert new.content.replaces_version == 1 and new.version == 2
    effects = old.supersede(new.version)
    assert old.state is ConfirmationState.SUPERSEDED and old.get("superseded_by") == 2
    assert effects.timers[0].key == timer_key(deal.deal_id, 1) and effects.timers[0].cancel


def test_timer_makes_only_a_scheduled_version_due() -> None:
    scheduled = drafted(MORNING)
    scheduled.make_due(NOW)
    assert scheduled.state is ConfirmationState.DUE
    held = drafted(MORNING)
    held.hold("seller-1")
    held.changes.clear()
    held.make_due(NOW)
    assert held.state is ConfirmationState.HELD and held.changes == {}


def test_record_sent_starts_the_sellers_separate_copy() -> None:
    confirmation = drafted(IMMEDIATE)
    effects = confirmation.record_attempt(
        AttemptVerdict(ConfirmationState.SENT), None, now=NOW, retry_at=NOW
    )
    assert confirmation.state is ConfirmationState.SENT
    assert confirmation.copy_state == "due"
    assert {"claimed_by", "claim_until"} <= confirmation.removed
    [sent] = effects.events
    assert isinstance(sent, ConfirmationSent) and sent.message_id == confirmation.message_id
    confirmation.seller_copy_sent(NOW)
    assert confirmation.copy_state == "sent"


def test_record_sent_with_bcc_records_the_copy_with_it() -> None:
    policy = OrganisationPolicy(SendPolicy.IMMEDIATE, seller_copy=SellerCopy.BCC)
    confirmation = drafted(policy)
    confirmation.record_sent(NOW)
    assert confirmation.copy_state == "sent" and confirmation.get("copy_sent_at") == NOW


def test_transient_failure_retries_then_gives_up() -> None:
    confirmation = drafted(IMMEDIATE)
    later = NOW + timedelta(seconds=30)
    confirmation.record_attempt(
        AttemptVerdict(ConfirmationState.DUE, retry_in=timedelta(seconds=30)),
        "421 busy",
        now=NOW,
        retry_at=later,
    )
    assert confirmation.state is ConfirmationState.DUE
    assert confirmation.get("next_attempt_at") == later
    effects = confirmation.record_failed("421 busy", permanent=False, now=later)
    [failed] = effects.events
    assert isinstance(failed, ConfirmationFailed) and not failed.permanent
    assert confirmation.get("last_error") == "retries exhausted after 0 attempts: 421 busy"


def test_erase_an_unsent_version_never_sends_it() -> None:
    confirmation = drafted(MORNING)
    effects = confirmation.erase(NOW)
    assert confirmation.state is ConfirmationState.ERASED
    assert confirmation.get("erased_from_state") == "scheduled"
    assert confirmation.get("recipient") is None and confirmation.content.customer.contact is None
    assert confirmation.get("last_error") == ERASED_REASON
    assert [t.cancel for t in effects.timers] == [True]
    confirmation.changes.clear()
    assert confirmation.erase(NOW).timers == [] and confirmation.changes == {}  # idempotent


def test_erase_a_sent_version_keeps_its_state_and_scrubs_the_error() -> None:
    confirmation = drafted(IMMEDIATE)
    confirmation.record_sent(NOW)
    confirmation.seller_copy_failed("550 <seller@example.com>: no such user")
    confirmation.erase(NOW)
    assert confirmation.state is ConfirmationState.SENT
    assert confirmation.copy_state == "failed"


def test_a_deal_after_its_customers_erasure_is_drafted_erased() -> None:
    confirmation, effects = Confirmation.draft_from_deal(
        examples.deal_closed(closed_at=NOW), IMMEDIATE, RULES, now=NOW, erased=True
    )
    assert confirmation.state is ConfirmationState.ERASED
    assert confirmation.get("failed_at") is None
    assert confirmation.get("recipient") is None
    assert effects.events == [] and effects.timers == []
