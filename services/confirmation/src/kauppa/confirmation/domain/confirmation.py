"""The ``Confirmation`` aggregate: one deal version's written confirmation (D11, D12).

Drafted from a ``DealClosed`` or a ``DealAmended`` (``draft_from_deal``: an amendment is a
new version replacing version N), scheduled by the organisation's send policy
(``schedule``: immediate, next business morning, or the seller's review), reviewed by
the seller (``approve``, ``hold``, ``add_note``), made due by its timer (``make_due``),
replaced by a newer version (``supersede``), its delivery recorded by the sender
(``record_attempt``, after an attempt's verdict: ``record_sent``, ``record_failed``,
``retry_later``, and for the seller's separate copy ``seller_copy_sent``,
``seller_copy_failed``, ``seller_copy_retry_later``), and erased with its customer
(``erase``).

Each verb changes the confirmation and returns what it causes (``Effects``: events to
emit, timers to arm or cancel) or raises a refusal. The state is the stored document's
fields (the repository maps it, unchanged); a verb's changes are kept in ``changes``
and ``removed`` for the repository to write. Pure: no I/O, ``now`` comes from the
caller. The rules it applies stay in their modules: ``send_policy``, ``checklist``,
``delivery_attempts`` and ``erasure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from kauppa.confirmation.domain.checklist import checklist
from kauppa.confirmation.domain.confirmation_content import (
    ConfirmationContent,
    confirmation_key,
    from_deal_amended,
    from_deal_closed,
    message_id,
)
from kauppa.confirmation.domain.delivery_attempts import (
    COPY_UNSENT,
    REVIEWABLE,
    UNSENT,
    AttemptVerdict,
    ConfirmationState,
)
from kauppa.confirmation.domain.erasure import ERASED_REASON, anonymise_content, scrub_emails
from kauppa.confirmation.domain.send_policy import (
    OrganisationPolicy,
    SellerCopy,
    SendDecision,
    decide_send_time,
)
from kauppa.contracts.events.confirmations import (
    ConfirmationFailed,
    ConfirmationScheduled,
    ConfirmationSent,
)
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.servicekit.refusals import Conflict
from kauppa.servicekit.unit_of_work import Effects, TimerRequest

T = TypeVar("T")
SEND_TIMER = "send_confirmation"
NO_RECIPIENT = "the customer has no email address"
_CLAIM = ("claimed_by", "claim_until")
_COPY_CLAIM = ("copy_claimed_by", "copy_claim_until")


def timer_key(deal_id: str, version: int) -> str:
    """The send timer of one version (``send_confirmation``)."""
    return f"confirmation-send:{confirmation_key(deal_id, version)}"


@dataclass(frozen=True)
class Drafting:
    """The service's settings a draft depends on."""

    message_id_domain: str
    default_country: str
    allow_http: bool = False


class Stored(Generic[T]):
    """A stored field read as a typed attribute of the aggregate."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        return cast(T, instance._stored.get(self.name))


class Confirmation:
    """One version of a deal's confirmation, built from its stored fields."""

    deal_id: Stored[str] = Stored()
    version: Stored[int] = Stored()
    organisation_id: Stored[str] = Stored()
    seller_id: Stored[str] = Stored()
    message_id: Stored[str] = Stored()
    seller_copy: Stored[str | None] = Stored()  # how the seller gets a copy (``SellerCopy``)
    copy_state: Stored[str | None] = Stored()  # the seller's separate copy's track

    def __init__(self, key: str, stored: Mapping[str, Any]) -> None:
        self.key = key
        self._stored = dict(stored)
        self._content: ConfirmationContent | None = None
        self.changes: dict[str, Any] = {}  # fields the verbs set since it was loaded
        self.removed: set[str] = set()  # fields the verbs removed

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> ConfirmationState:
        return ConfirmationState(self._stored["state"])

    @property
    def content(self) -> ConfirmationContent:
        if self._content is None:
            self._content = ConfirmationContent.model_validate(self._stored["content"])
        return self._content

    @property
    def erased(self) -> bool:
        return "erased_at" in self._stored

    def get(self, name: str, default: Any = None) -> Any:
        """A stored field the verbs do not interpret (times, claims, attempts, causes)."""
        return self._stored.get(name, default)

    def document(self) -> dict[str, Any]:
        """Every stored field as it is now (the repository's document, without ``_id``)."""
        return dict(self._stored)

    def _set(self, **fields: Any) -> None:
        self._stored.update(fields)
        self.changes.update(fields)
        self.removed.difference_update(fields)
        if "content" in fields:
            self._content = None

    def _remove(self, *names: str) -> None:
        for name in names:
            self._stored.pop(name, None)
            self.changes.pop(name, None)
        self.removed.update(names)

    # ------------------------------------------------------------------ drafting (D11)
    @classmethod
    def draft_from_deal(
        cls,
        deal: DealClosed | DealAmended,
        policy: OrganisationPolicy,
        rules: Drafting,
        *,
        now: datetime,
        erased: bool = False,
    ) -> tuple[Confirmation, Effects]:
        """A closed deal drafts version ``summary_version`` (normally 1); an amended
        deal drafts a new version that replaces version ``replaces_version`` (the older
        unsent ones are superseded once this one is stored: ``supersede``)."""
        if isinstance(deal, DealClosed):
            content = from_deal_closed(deal, allow_http=rules.allow_http)
        else:
            content = from_deal_amended(deal, allow_http=rules.allow_http)
        return cls.draft(content, policy, rules, now=now, erased=erased)

    @classmethod
    def draft(
        cls,
        content: ConfirmationContent,
        policy: OrganisationPolicy,
        rules: Drafting,
        *,
        now: datetime,
        erased: bool = False,
    ) -> tuple[Confirmation, Effects]:
        """A new version, scheduled by ``policy``; the effects are what storing it for
        the first time causes. A customer erased before the deal event arrived gets it
        drafted already erased: kept for the counts, never sent, nothing announced."""
        if erased:
            content = anonymise_content(content)
        # Decided when drafted, like the send policy: how the seller gets a copy, and
        # the signed order to fetch and attach (the organisation allows its host).
        document_url = content.summary.signature.document_url
        fetchable = policy.may_fetch(document_url, allow_http=rules.allow_http)
        confirmation = cls(
            content.key,
            {
                "deal_id": content.deal_id,
                "version": content.version,
                "organisation_id": content.organisation_id,
                "seller_id": content.seller.seller_id,
                "recipient": content.recipient,
                "message_id": message_id(content.deal_id, content.version, rules.message_id_domain),
                "checklist": checklist(content),
                "seller_copy": policy.seller_copy.value,
                "signed_copy_url": document_url if fetchable else None,
                "note": None,
                "attempts": 0,
                "content": content.model_dump(mode="json"),
                "created_at": now,
            },
        )
        confirmation._content = content
        effects: Effects
        if erased:  # decided as for anyone, but nothing announced or scheduled
            confirmation._decide(policy, now=now, country=rules.default_country)
            confirmation._set(
                state=ConfirmationState.ERASED.value,
                next_attempt_at=None,
                erased_at=now,
                erased_from_state=None,
                last_error=ERASED_REASON,
            )
            effects = Effects()
        else:
            effects = confirmation.schedule(policy, now=now, country=rules.default_country)
        confirmation.changes.clear()  # new: stored whole (``document()``), not as changes
        return confirmation, effects

    def caused_by(self, event_id: str, correlation_id: str, traceparent: str | None) -> None:
        """The deal event that asked for this version (its outcome events continue it)."""
        self._set(caused_by=event_id, correlation_id=correlation_id, traceparent=traceparent)

    def schedule(self, policy: OrganisationPolicy, *, now: datetime, country: str) -> Effects:
        """D11: when it goes out. ``immediate``: due now; ``next_business_morning``: a
        timer at the seller's next business morning (counted from the close, never in
        the past); ``seller_review``: awaiting the seller's approval. Without a
        recipient it fails at once (permanently)."""
        decision = self._decide(policy, now=now, country=country)
        state = self.state
        lines = self._stored["checklist"]
        effects = Effects(
            [
                ConfirmationScheduled(
                    **self._about(),
                    policy=decision.policy,
                    send_at=decision.send_at,
                    requires_approval=decision.requires_approval,
                    checklist=list(lines),
                    scheduled_at=now,
                )
            ]
        )
        if state is ConfirmationState.SCHEDULED:
            assert decision.send_at is not None
            effects.timers.append(
                TimerRequest(
                    timer_key(self.deal_id, self.version),
                    decision.send_at,
                    SEND_TIMER,
                    {"key": self.key},
                )
            )
        elif state is ConfirmationState.FAILED:
            self._set(failed_at=now, last_error=NO_RECIPIENT)
            effects.events.append(
                ConfirmationFailed(
                    **self._about(),
                    reason=NO_RECIPIENT,
                    permanent=True,
                    attempts=0,
                    failed_at=now,
                )
            )
        return effects

    def _decide(self, policy: OrganisationPolicy, *, now: datetime, country: str) -> SendDecision:
        content = self.content
        decision = decide_send_time(
            policy,
            agreed_at=content.agreed_at,
            now=now,
            seller_timezone=content.seller.timezone,
            country=content.customer.country or country,
        )
        if content.recipient is None:
            state = ConfirmationState.FAILED
        elif decision.requires_approval:
            state = ConfirmationState.AWAITING_APPROVAL
        else:
            assert decision.send_at is not None
            due = decision.send_at <= now
            state = ConfirmationState.DUE if due else ConfirmationState.SCHEDULED
        self._set(
            policy=decision.policy.value,
            requires_approval=decision.requires_approval,
            send_at=decision.send_at,
            state=state.value,
            next_attempt_at=decision.send_at if state is ConfirmationState.DUE else None,
        )
        return decision

    def make_due(self, now: datetime) -> Effects:
        """Its send time has come: a scheduled version becomes due for the sender. Held,
        superseded or already-approved versions stay as they are."""
        if self.state is ConfirmationState.SCHEDULED:
            self._set(state=ConfirmationState.DUE.value, next_attempt_at=now)
        return Effects()

    def supersede(self, by_version: int) -> Effects:
        """A newer version replaces this one, not yet handed to the mail server."""
        self._set(state=ConfirmationState.SUPERSEDED.value, superseded_by=by_version)
        return Effects(timers=[self._cancel_timer()])

    # ------------------------------------------------------------------ review (D12.1)
    def _reviewable(self) -> None:
        if self.state not in REVIEWABLE:
            raise Conflict(f"the confirmation is {self.state.value}; it cannot change now")

    def approve(self, by: str, now: datetime) -> Effects:
        """The seller checked the draft: due now."""
        self._reviewable()
        self._set(
            state=ConfirmationState.DUE.value,
            next_attempt_at=now,
            approved_by=by,
            approved_at=now,
        )
        return Effects(timers=[self._cancel_timer()])

    def hold(self, by: str) -> Effects:
        """Kept from going out until the seller approves it."""
        self._reviewable()
        self._set(state=ConfirmationState.HELD.value, held_by=by)
        return Effects(timers=[self._cancel_timer()])

    def add_note(self, note: str) -> Effects:
        """A personal note from the seller, printed in the email."""
        self._reviewable()
        self._set(note=note)
        return Effects()

    # ------------------------------------------------------------------ delivery
    def record_sent(self, now: datetime) -> Effects:
        """The mail server accepted the customer's mail. The seller's separate copy
        becomes due now (so a crash before this never repeats it); a blind copy went
        with this very message."""
        content = self.content
        sent: dict[str, Any] = {"state": ConfirmationState.SENT.value, "sent_at": now}
        if self.seller_copy == SellerCopy.SEPARATE.value and content.seller.email:
            sent.update(copy_state=ConfirmationState.DUE.value, copy_next_attempt_at=now)
        elif self.seller_copy == SellerCopy.BCC.value:
            sent.update(copy_state=ConfirmationState.SENT.value, copy_sent_at=now)
        self._set(**sent)
        self._remove(*_CLAIM)
        return Effects(
            [
                ConfirmationSent(
                    **self._about(),
                    message_id=self.message_id,
                    replaces_version=content.replaces_version,
                    closed_at=content.agreed_at,
                    sent_at=now,
                )
            ]
        )

    def record_failed(self, reason: str, *, permanent: bool, now: datetime) -> Effects:
        """Given up on: a permanent refusal (5xx) or the retries exhausted."""
        attempts = int(self._stored.get("attempts", 1))
        if not permanent:
            reason = f"retries exhausted after {attempts} attempts: {reason}"
        self._set(state=ConfirmationState.FAILED.value, failed_at=now, last_error=reason)
        self._remove(*_CLAIM)
        return Effects(
            [
                ConfirmationFailed(
                    **self._about(),
                    reason=reason,
                    permanent=permanent,
                    attempts=attempts,
                    failed_at=now,
                )
            ]
        )

    def retry_later(self, at: datetime, error: str | None) -> Effects:
        """A transient failure (4xx, a refused connection): due again at ``at``."""
        self._set(state=ConfirmationState.DUE.value, next_attempt_at=at, last_error=error)
        self._remove(*_CLAIM)
        return Effects()

    def seller_copy_sent(self, now: datetime) -> Effects:
        """The seller's separate copy was accepted (nothing is emitted for a copy)."""
        self._set(copy_state=ConfirmationState.SENT.value, copy_sent_at=now)
        self._remove(*_COPY_CLAIM)
        return Effects()

    def seller_copy_failed(self, reason: str) -> Effects:
        self._set(copy_state=ConfirmationState.FAILED.value, copy_last_error=reason)
        self._remove(*_COPY_CLAIM)
        return Effects()

    def seller_copy_retry_later(self, at: datetime, error: str | None) -> Effects:
        self._set(
            copy_state=ConfirmationState.DUE.value, copy_next_attempt_at=at, copy_last_error=error
        )
        self._remove(*_COPY_CLAIM)
        return Effects()

    def record_attempt(
        self,
        verdict: AttemptVerdict,
        reason: str | None,
        *,
        now: datetime,
        retry_at: datetime,
        seller_copy: bool = False,
    ) -> Effects:
        """After an attempt judged by ``judge_attempt``: the customer's mail, or with
        ``seller_copy`` the seller's separate copy."""
        if verdict.state is ConfirmationState.SENT:
            return self.seller_copy_sent(now) if seller_copy else self.record_sent(now)
        if verdict.state is ConfirmationState.FAILED:
            if seller_copy:
                return self.seller_copy_failed(reason or "failed")
            return self.record_failed(
                reason or "failed", permanent=verdict.failed_permanently, now=now
            )
        if seller_copy:
            return self.seller_copy_retry_later(retry_at, reason)
        return self.retry_later(retry_at, reason)

    # ------------------------------------------------------------------ erasure (GDPR)
    def erase(self, now: datetime) -> Effects:
        """The customer's personal data goes (``domain/erasure.py`` says what). A version
        not yet sent becomes ``erased`` and is never sent (its timer cancelled, a claim
        taken back); a seller's copy not yet sent is never sent. Sent, failed and
        superseded versions keep their state. Idempotent: an erased version is left."""
        if self.erased:
            return Effects()
        content = anonymise_content(self.content)
        previous = self.state
        self._set(
            content=content.model_dump(mode="json"),
            recipient=None,
            note=None,
            checklist=checklist(content),
            erased_at=now,
            erased_from_state=previous.value,
            signed_copy_url=None,
        )
        self._content = content
        effects = Effects()
        if self.copy_state in COPY_UNSENT:
            self._set(copy_state=ConfirmationState.ERASED.value, copy_next_attempt_at=None)
            self._remove(*_COPY_CLAIM)
        if previous in UNSENT:
            effects.timers.append(self._cancel_timer())
            self._set(
                state=ConfirmationState.ERASED.value,
                next_attempt_at=None,
                last_error=ERASED_REASON,
            )
            self._remove(*_CLAIM)
        elif self._stored.get("last_error"):
            self._set(last_error=scrub_emails(self._stored["last_error"]))
        return effects

    def _about(self) -> dict[str, Any]:
        """What every event of this confirmation starts with: which deal version."""
        c = self.content
        return {
            "deal_id": c.deal_id,
            "organisation_id": c.organisation_id,
            "seller_id": c.seller.seller_id,
            "version": c.version,
        }

    def _cancel_timer(self) -> TimerRequest:
        return TimerRequest(timer_key(self.deal_id, self.version), cancel=True)
