"""The deal: one accepted lead's way along the buying path (D5) to a close won with the
whole summary and its signature (D7-D10), or lost; after the close, amendments.

``Deal`` is a plain class built from its state, with no I/O. Its methods are the
business verbs: each checks the rules (the pure ones beside it in this package), changes
the deal and returns what it causes (``Effects``: events to emit, timer requests), or
raises a refusal (``kauppa.servicekit.refusals``; the HTTP edge gives it its status)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from kauppa.closing.domain.amendment import AmendmentDraft
from kauppa.closing.domain.amendment import amend as amended_summary
from kauppa.closing.domain.close_summary import (
    CONTENT,
    PRICE,
    CloseTerms,
    LineDraft,
    OfferOnFile,
    PriceDraft,
    price_lines,
    price_of,
    review_close,
)
from kauppa.closing.domain.erasure import erase_prospect
from kauppa.closing.domain.sales_process import (
    DealStatus,
    SalesProcess,
    days_without_contact,
    latest_contact,
    refuse_unless_open,
    stale_reminder_due,
)
from kauppa.contracts import (
    ContactChannel,
    ContactLogged,
    DealAmended,
    DealClosed,
    DealLost,
    DealOpened,
    DealStageChanged,
    DealSummary,
    LeadAccepted,
    OfferSent,
    Prospect,
    Referral,
    ReferralReceived,
    SellerCard,
    StaleDealReminder,
)
from kauppa.servicekit.ids import allowed_url
from kauppa.servicekit.refusals import Conflict, Invalid
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import Effects, TimerRequest

STALE_DEAL = "stale_deal"  # the timer kind of the stale-deal reminder (D5)
SELLER_CARD = "seller_card"  # named among the missing items when the directory has no card
# A contact logged as happening in the future would silence the stale-deal reminder.
CLOCK_SKEW = timedelta(minutes=5)


def stale_timer_key(deal_id: str) -> str:
    return f"stale:{deal_id}"


# ------------------------------------------------------------------ refusals


class Incomplete(Invalid):
    """Items missing or invalid, each named with why (D9: the seller fixes them all at
    once). The body: ``{"detail", "missing": [...], "problems": {item: why}}``."""

    def __init__(self, missing: list[str], problems: dict[str, str]) -> None:
        super().__init__(
            f"missing or invalid: {', '.join(missing)}", missing=missing, problems=problems
        )
        self.missing, self.problems = missing, problems


class CloseRefused(Incomplete):
    """A close without the whole summary (D9), its signature (D10) or the seller's card."""


class NotOpen(Conflict):
    """A buying-path command on a deal that is won or lost (a won deal is amended)."""

    def __init__(self, why: str, status: str) -> None:
        super().__init__(why, status=status)


# ------------------------------------------------------------------ the aggregate


def opening_event(planned: DealOpened, first_stage: str, erased_before: bool) -> DealOpened:
    """The ``DealOpened`` that goes out for an accepted lead: ``planned`` itself when it
    holds (so its prepared encoding can be used), else a corrected copy. A customer erased
    before the deal opens is left out of it; otherwise the deal starts at the
    organisation's first stage."""
    if erased_before:
        anonymous = erase_prospect(planned.prospect.model_dump(mode="json"))
        return planned.model_copy(update={"prospect": Prospect.model_validate(anonymous)})
    if planned.stage == first_stage:
        return planned
    return planned.model_copy(update={"stage": first_stage})


@dataclass
class Deal:
    """A deal's state (JSON-form documents for what travels as stored: prospect, source,
    offers, referrals, summary, seller card). ``changed`` names the fields the verbs set,
    for the repository to write."""

    deal_id: str
    lead_id: str
    organisation_id: str
    customer_id: str
    seller_id: str
    prospect: Document | None
    source: Document | None
    stage: str
    status: str
    opened_at: datetime
    last_contact_at: datetime
    business_key: str | None = None
    product_interest: list[str] = field(default_factory=list)
    contacts: int = 0
    offers: dict[str, Document] = field(default_factory=dict)
    referrals: list[Document] = field(default_factory=list)
    summary: Document | None = None
    summary_version: int = 0
    seller_card: Document | None = None
    customer_reference: str | None = None
    closed_at: datetime | None = None
    lost_reason: str | None = None
    lost_at: datetime | None = None
    updated_at: datetime | None = None
    erased_at: datetime | None = None
    changed: list[str] = field(default_factory=list, repr=False, compare=False)

    # -------------------------------------------------------------- opening (D5)

    @classmethod
    def opened(
        cls,
        event: DealOpened,
        dumped: Document,
        lead: LeadAccepted,
        *,
        business_key: str | None,
        now: datetime,
        erased: bool,
    ) -> Deal:
        """The deal ``event`` opens (``dumped``: the event's JSON form)."""
        return cls(
            deal_id=event.deal_id,
            lead_id=lead.lead_id,
            organisation_id=lead.organisation_id,
            customer_id=event.customer_id,
            seller_id=lead.seller_id,
            prospect=dumped["prospect"],
            source=dumped["source"],
            stage=event.stage,
            status=DealStatus.OPEN.value,
            opened_at=event.opened_at,
            last_contact_at=event.opened_at,
            business_key=business_key,
            product_interest=list(lead.product_interest),
            updated_at=now,
            erased_at=now if erased else None,
        )

    def stale_timer(self, process: SalesProcess, *, new: bool = False) -> TimerRequest:
        """The stale-deal reminder, armed from the last contact for the current stage
        (``new``: the deal is new in this transaction, so is its timer)."""
        return TimerRequest(
            stale_timer_key(self.deal_id),
            stale_reminder_due(self.last_contact_at, self.stage, process),
            STALE_DEAL,
            {"deal_id": self.deal_id},
            new=new,
        )

    # -------------------------------------------------------------- the buying path (D5)

    def log_contact(
        self,
        channel: ContactChannel,
        summary: str,
        contacted_at: datetime,
        *,
        now: datetime,
        process: SalesProcess,
    ) -> Effects:
        """A contact re-arms the stale-deal reminder from the latest contact."""
        self._require_open("log a contact")
        if contacted_at > now + CLOCK_SKEW:
            raise Invalid("a contact cannot be logged in the future")
        event = ContactLogged(
            deal_id=self.deal_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            channel=channel,
            contacted_at=contacted_at,
            summary=summary,
        )
        self._set(
            last_contact_at=latest_contact(self.last_contact_at, contacted_at),
            contacts=self.contacts + 1,
            updated_at=now,
        )
        return Effects([event], [self.stale_timer(process)])

    def send_offer(
        self,
        offer_ref: str,
        lines: list[LineDraft],
        vat_rate: Decimal,
        valid_until: date,
        sent_at: datetime,
        *,
        now: datetime,
        process: SalesProcess,
    ) -> Effects:
        """An emailed offer, priced with the organisation's bundle rules, kept on file (an
        accepted offer binds its lines and VAT rate at the close, D10)."""
        self._require_open("send an offer")
        if offer_ref in self.offers:
            raise Conflict(f"offer {offer_ref} was already sent")
        priced, why = price_lines(lines, process.bundle_rules)
        if priced is None:
            raise Incomplete([CONTENT], {CONTENT: why})
        price, why = price_of(priced, PriceDraft(vat_rate=vat_rate))
        if price is None:
            raise Incomplete([PRICE], {PRICE: why})
        event = OfferSent(
            deal_id=self.deal_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            offer_ref=offer_ref,
            lines=priced,
            price=price,
            valid_until=valid_until,
            sent_at=sent_at,
        )
        on_file = {
            "lines": [line.model_dump(mode="json") for line in lines],
            "vat_rate": str(vat_rate),
            "valid_until": valid_until.isoformat(),
        }
        self._set(offers={**self.offers, offer_ref: on_file}, updated_at=now)
        return Effects([event])

    def move_stage(self, to_stage: str, *, now: datetime, process: SalesProcess) -> Effects:
        """To any other of the organisation's stages, back too (D6)."""
        self._require_open("move the stage")
        why = process.refuse_move(self.stage, to_stage)
        if why:
            raise Invalid(why, stages=list(process.stages))
        event = DealStageChanged(
            deal_id=self.deal_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            from_stage=self.stage,
            to_stage=to_stage,
            changed_at=now,
        )
        self._set(stage=to_stage, updated_at=now)
        # The new stage may allow a shorter (or longer) silence.
        return Effects([event], [self.stale_timer(process)])

    def lose(self, reason: str, *, now: datetime) -> Effects:
        self._require_open("lose the deal")
        event = DealLost(
            deal_id=self.deal_id,
            lead_id=self.lead_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            source=self.source,
            reason=reason,
            lost_at=now,
        )
        self._set(status=DealStatus.LOST.value, lost_reason=reason, lost_at=now, updated_at=now)
        return Effects([event], [self._cancel_stale()])

    def remind_stale(self, *, now: datetime, process: SalesProcess) -> Effects:
        """D5: long deals must not be forgotten. No contact for the stage's window: remind
        the seller, and again after another window while the deal stays quiet."""
        event = StaleDealReminder(
            deal_id=self.deal_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            stage=self.stage,
            last_contact_at=self.last_contact_at,
            days_without_contact=days_without_contact(self.last_contact_at, now),
        )
        again = TimerRequest(
            stale_timer_key(self.deal_id),
            now + process.stale_after(self.stage),
            STALE_DEAL,
            {"deal_id": self.deal_id},
        )
        return Effects([event], [again])

    # -------------------------------------------------------------- referrals (D8)

    def refer(self, referral: Referral, *, now: datetime) -> Effects:
        """At any time, whatever the deal's status: trust shows at many moments."""
        event = self._referral(referral, now)
        self._set(referrals=[*self.referrals, event.referral.model_dump(mode="json")])
        return Effects([event])

    # -------------------------------------------------------------- the close (D7, D9, D10)

    def close(
        self,
        terms: CloseTerms,
        card: SellerCard | None,
        *,
        now: datetime,
        process: SalesProcess,
        allow_http: bool = False,
    ) -> Effects:
        """Close won with the whole summary: every missing item is named at once, the
        seller's card among them (the confirmation carries it, D12.3). Emits
        ``DealClosed`` and a ``ReferralReceived`` per referral asked for at closing."""
        self._require_open("close the deal")
        url = terms.signature.document_url if terms.signature else None
        if url and not allowed_url(url, allow_http=allow_http):
            raise CloseRefused([], {"signature": "document_url must be an https URL"})
        review = review_close(terms, process.bundle_rules, self.offers_on_file())
        missing, problems = list(review.missing), dict(review.problems)
        if card is None:
            missing.append(SELLER_CARD)
            problems[SELLER_CARD] = (
                f"no contact card for seller {self.seller_id} in the seller directory"
            )
        if missing or review.summary is None or card is None:
            raise CloseRefused(missing, problems)
        closed = DealClosed(
            deal_id=self.deal_id,
            lead_id=self.lead_id,
            organisation_id=self.organisation_id,
            customer_id=self.customer_id,
            customer=Prospect.model_validate(self.prospect),
            customer_reference=terms.customer_reference,
            source=self.source,
            seller=card,
            summary=review.summary,
            referrals=terms.referrals,
            summary_version=1,
            closed_at=now,
        )
        self._set(
            status=DealStatus.WON.value,
            summary=review.summary.model_dump(mode="json"),
            summary_version=1,
            seller_card=card.model_dump(mode="json"),
            customer_reference=terms.customer_reference,
            closed_at=now,
            updated_at=now,
        )
        referred = [self._referral(referral, now) for referral in terms.referrals]
        if terms.referrals:
            self._set(
                referrals=[*self.referrals, *(r.model_dump(mode="json") for r in terms.referrals)]
            )
        return Effects([closed, *referred], [self._cancel_stale()])

    def amend(
        self,
        draft: AmendmentDraft,
        card: SellerCard | None,
        *,
        now: datetime,
        process: SalesProcess,
    ) -> Effects:
        """A closed-won deal's lines, schedule, terms or VAT change: the whole new summary,
        version + 1; the signature stays. ``card``: the directory's card now, else the
        one of the close."""
        if self.status != DealStatus.WON.value:
            raise Conflict(f"only a closed-won deal is amended; it is {self.status}")
        current = DealSummary.model_validate(self.summary)
        review = amended_summary(current, draft, process.bundle_rules)
        if review.summary is None:
            raise Incomplete(sorted(review.problems), review.problems)
        version = self.summary_version + 1
        event = DealAmended(
            deal_id=self.deal_id,
            organisation_id=self.organisation_id,
            customer_id=self.customer_id,
            customer=Prospect.model_validate(self.prospect),
            customer_reference=self.customer_reference,
            seller=card or SellerCard.model_validate(self.seller_card),
            summary=review.summary,
            summary_version=version,
            replaces_version=version - 1,
            change_note=draft.change_note,
            amended_at=now,
        )
        self._set(
            summary=review.summary.model_dump(mode="json"),
            summary_version=version,
            updated_at=now,
        )
        return Effects([event])

    # -------------------------------------------------------------- helpers

    def offers_on_file(self) -> dict[str, OfferOnFile]:
        return {
            ref: OfferOnFile(
                offer_ref=ref,
                lines=tuple(LineDraft.model_validate(line) for line in offer["lines"]),
                vat_rate=Decimal(offer["vat_rate"]),
            )
            for ref, offer in self.offers.items()
        }

    def _referral(self, referral: Referral, now: datetime) -> ReferralReceived:
        return ReferralReceived(
            referral_id=f"ref-{uuid.uuid4().hex[:16]}",
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            referred_by_customer_id=self.customer_id,
            deal_id=self.deal_id,
            referral=referral,
            received_at=now,
        )

    def _require_open(self, action: str) -> None:
        why = refuse_unless_open(self.status, action)
        if why:
            raise NotOpen(why, self.status)

    def _cancel_stale(self) -> TimerRequest:
        return TimerRequest(stale_timer_key(self.deal_id), cancel=True)

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
            if name not in self.changed:
                self.changed.append(name)
