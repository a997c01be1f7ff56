"""The seller's and ops' commands: each one a unit of work that loads the deal, asks the
domain, writes the deal, its history and its events in one transaction. A refusal
raises ``Refused`` (the transaction rolls back; nothing is remembered under the
Idempotency-Key, so the corrected call can be sent again)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from kauppa.closing.deal_store import (
    DEALS,
    ORGANISATIONS,
    SELLERS,
    history_entry,
    load_processes,
    load_seller_card,
    seller_card_key,
    stale_timer_key,
)
from kauppa.closing.domain.amendment import AmendmentDraft, amend
from kauppa.closing.domain.close_summary import (
    CloseTerms,
    Draft,
    LineDraft,
    OfferOnFile,
    PriceDraft,
    price_lines,
    price_of,
    review_close,
)
from kauppa.closing.domain.sales_process import (
    DealStatus,
    latest_contact,
    refuse_unless_open,
    stale_reminder_due,
)
from kauppa.closing.handlers import STALE_DEAL
from kauppa.closing.settings import ClosingSettings, SalesProcessConfig
from kauppa.contracts import (
    ContactChannel,
    ContactLogged,
    DealAmended,
    DealClosed,
    DealLost,
    DealStageChanged,
    DealSummary,
    Envelope,
    Event,
    OfferSent,
    Prospect,
    Referral,
    ReferralReceived,
    SellerCard,
)
from kauppa.contracts.bounds import Percent
from kauppa.servicekit.auth import Principal
from kauppa.servicekit.ids import ID_PATTERN, allowed_url
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import AwareDatetime, Field

Document = dict[str, Any]
Work = Callable[[UnitOfWork], Awaitable[Document]]

# What the HTTP commands emit (the service runtime's ``emits``, in its AsyncAPI sends).
COMMAND_EMITS = (
    ContactLogged,
    OfferSent,
    DealStageChanged,
    DealLost,
    ReferralReceived,
    DealClosed,
    DealAmended,
)

# A contact logged as happening in the future would silence the stale-deal reminder.
CLOCK_SKEW = timedelta(minutes=5)


class Refused(Exception):
    """The command is refused; ``body`` is the machine-readable answer."""

    def __init__(self, status: int, body: Document) -> None:
        super().__init__(body.get("detail", str(body)))
        self.status, self.body = status, body


# ------------------------------------------------------------------ command bodies


class ContactDraft(Draft):
    channel: ContactChannel
    summary: str = Field(min_length=1, max_length=4000)
    contacted_at: AwareDatetime | None = Field(None, description="Default: now")


class OfferDraft(Draft):
    offer_ref: str = Field(
        pattern=ID_PATTERN,
        description=f"Reference of the emailed offer ({ID_PATTERN}: it keys the deal's offers)",
    )
    lines: list[LineDraft] = Field(min_length=1, max_length=200)
    vat_rate: Percent
    valid_until: date
    sent_at: AwareDatetime | None = Field(None, description="Default: now")


class StageMove(Draft):
    to_stage: str = Field(min_length=1, max_length=100)


class LossReport(Draft):
    reason: str = Field(min_length=1, max_length=2000)


# ------------------------------------------------------------------ helpers


def may_act_for(principal: Principal, seller_id: str) -> bool:
    """Sellers act on their own deals; ops and admin on any (of their organisation: a
    deal of another is not found, see ``load_deal``). The kit's rule, organisation
    checked apart."""
    return principal.may_see(principal.organisation_id, seller_id)


def accessible_deal(deal: Document | None, deal_id: str, principal: Principal) -> Document:
    """The deal, if the caller may see it: another organisation's is not found (404),
    another seller's is refused (403)."""
    if deal is None or not principal.may_act_in(deal["organisation_id"]):
        raise Refused(404, {"detail": f"no deal {deal_id}"})
    if not may_act_for(principal, deal["seller_id"]):
        raise Refused(403, {"detail": f"deal {deal_id} belongs to another seller"})
    return deal


async def load_deal(uow: UnitOfWork, deal_id: str, principal: Principal) -> Document:
    deal = await uow.db[DEALS].find_one({"_id": deal_id}, session=uow.session)
    return accessible_deal(deal, deal_id, principal)


def require_open(deal: Document, action: str) -> None:
    why = refuse_unless_open(deal["status"], action)
    if why:
        raise Refused(409, {"detail": why, "status": deal["status"]})


async def process_of(
    uow: UnitOfWork, deal: Document, settings: ClosingSettings
) -> SalesProcessConfig:
    org = deal["organisation_id"]
    configs = await load_processes(uow.db, uow.session, [org], settings.default_process())
    return configs[org]


async def record(uow: UnitOfWork, deal_id: str, event: Event, changes: Document) -> Envelope:
    """Emit the event, write it to the deal's history and apply the deal's changes."""
    env = uow.emit(event)
    await uow.db[DEALS].update_one(
        {"_id": deal_id},
        {"$set": {**changes, "updated_at": uow.now}, "$push": {"history": history_entry(env)}},
        session=uow.session,
    )
    return env


def accepted(env: Envelope, status: int = 201, **extra: Any) -> Document:
    return {"_status": status, "deal_id": env.event.partition_key(), "event_id": env.id, **extra}


# ------------------------------------------------------------------ the buying path (D5)


def log_contact(
    settings: ClosingSettings, deal_id: str, principal: Principal, body: ContactDraft
) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        require_open(deal, "log a contact")
        contacted_at = body.contacted_at or uow.now
        if contacted_at > uow.now + CLOCK_SKEW:
            raise Refused(422, {"detail": "a contact cannot be logged in the future"})
        last = latest_contact(deal["last_contact_at"], contacted_at)
        env = await record(
            uow,
            deal_id,
            ContactLogged(
                deal_id=deal_id,
                organisation_id=deal["organisation_id"],
                seller_id=deal["seller_id"],
                channel=body.channel,
                contacted_at=contacted_at,
                summary=body.summary,
            ),
            {"last_contact_at": last, "contacts": deal.get("contacts", 0) + 1},
        )
        process = (await process_of(uow, deal, settings)).to_domain()
        uow.schedule(
            stale_timer_key(deal_id),
            stale_reminder_due(last, deal["stage"], process),
            STALE_DEAL,
            {"deal_id": deal_id},
        )
        return accepted(env)

    return work


def send_offer(
    settings: ClosingSettings, deal_id: str, principal: Principal, body: OfferDraft
) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        require_open(deal, "send an offer")
        if body.offer_ref in deal.get("offers", {}):
            raise Refused(409, {"detail": f"offer {body.offer_ref} was already sent"})
        process = (await process_of(uow, deal, settings)).to_domain()
        lines, why = price_lines(body.lines, process.bundle_rules)
        if lines is None:
            raise Refused(422, {"missing": ["content"], "problems": {"content": why}})
        price, why = price_of(lines, PriceDraft(vat_rate=body.vat_rate))
        if price is None:
            raise Refused(422, {"missing": ["price"], "problems": {"price": why}})
        offer = OfferSent(
            deal_id=deal_id,
            organisation_id=deal["organisation_id"],
            seller_id=deal["seller_id"],
            offer_ref=body.offer_ref,
            lines=lines,
            price=price,
            valid_until=body.valid_until,
            sent_at=body.sent_at or uow.now,
        )
        on_file = {
            "lines": [line.model_dump(mode="json") for line in body.lines],
            "vat_rate": str(body.vat_rate),
            "valid_until": body.valid_until.isoformat(),
        }
        env = await record(uow, deal_id, offer, {f"offers.{body.offer_ref}": on_file})
        return accepted(env, price=price.model_dump(mode="json"))

    return work


def move_stage(
    settings: ClosingSettings, deal_id: str, principal: Principal, body: StageMove
) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        require_open(deal, "move the stage")
        process = (await process_of(uow, deal, settings)).to_domain()
        why = process.refuse_move(deal["stage"], body.to_stage)
        if why:
            raise Refused(422, {"detail": why, "stages": list(process.stages)})
        env = await record(
            uow,
            deal_id,
            DealStageChanged(
                deal_id=deal_id,
                organisation_id=deal["organisation_id"],
                seller_id=deal["seller_id"],
                from_stage=deal["stage"],
                to_stage=body.to_stage,
                changed_at=uow.now,
            ),
            {"stage": body.to_stage},
        )
        # The new stage may allow a shorter (or longer) silence.
        uow.schedule(
            stale_timer_key(deal_id),
            stale_reminder_due(deal["last_contact_at"], body.to_stage, process),
            STALE_DEAL,
            {"deal_id": deal_id},
        )
        return accepted(env)

    return work


def lose_deal(deal_id: str, principal: Principal, body: LossReport) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        require_open(deal, "lose the deal")
        lost = DealLost(
            deal_id=deal_id,
            lead_id=deal["lead_id"],
            organisation_id=deal["organisation_id"],
            seller_id=deal["seller_id"],
            source=deal.get("source"),
            reason=body.reason,
            lost_at=uow.now,
        )
        env = await record(
            uow,
            deal_id,
            lost,
            {"status": DealStatus.LOST.value, "lost_reason": body.reason, "lost_at": uow.now},
        )
        uow.cancel(stale_timer_key(deal_id))
        return accepted(env)

    return work


# ------------------------------------------------------------------ referrals (D8)


def referral_event(deal: Document, referral: Referral, now: Any) -> ReferralReceived:
    return ReferralReceived(
        referral_id=f"ref-{uuid.uuid4().hex[:16]}",
        organisation_id=deal["organisation_id"],
        seller_id=deal["seller_id"],
        referred_by_customer_id=deal["customer_id"],
        deal_id=deal["_id"],
        referral=referral,
        received_at=now,
    )


def record_referral(deal_id: str, principal: Principal, body: Referral) -> Work:
    """At any time, whatever the deal's status: trust shows at many moments."""

    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        event = referral_event(deal, Referral.model_validate(body.model_dump()), uow.now)
        env = uow.emit(event)
        await uow.db[DEALS].update_one(
            {"_id": deal_id},
            {
                "$push": {
                    "referrals": event.referral.model_dump(mode="json"),
                    "history": history_entry(env),
                }
            },
            session=uow.session,
        )
        return {"_status": 201, "referral_id": event.referral_id, "event_id": env.id}

    return work


# ------------------------------------------------------------------ the close (D7, D9, D10)


def offers_on_file(deal: Document) -> dict[str, OfferOnFile]:
    return {
        ref: OfferOnFile(
            offer_ref=ref,
            lines=tuple(LineDraft.model_validate(line) for line in offer["lines"]),
            vat_rate=Decimal(offer["vat_rate"]),
        )
        for ref, offer in (deal.get("offers") or {}).items()
    }


def close_deal(
    settings: ClosingSettings, deal_id: str, principal: Principal, body: CloseTerms
) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        require_open(deal, "close the deal")
        process = (await process_of(uow, deal, settings)).to_domain()
        url = body.signature.document_url if body.signature else None
        if url and not allowed_url(url, allow_http=settings.kafka.profile == "local"):
            raise Refused(
                422,
                {"missing": [], "problems": {"signature": "document_url must be an https URL"}},
            )
        review = review_close(body, process.bundle_rules, offers_on_file(deal))
        card = await load_seller_card(
            uow.db, uow.session, deal["organisation_id"], deal["seller_id"]
        )
        missing, problems = list(review.missing), dict(review.problems)
        if card is None:
            missing.append("seller_card")
            problems["seller_card"] = (
                f"no contact card for seller {deal['seller_id']} in the seller directory"
            )
        if missing or review.summary is None or card is None:
            raise Refused(422, {"missing": missing, "problems": problems})
        closed = DealClosed(
            deal_id=deal_id,
            lead_id=deal["lead_id"],
            organisation_id=deal["organisation_id"],
            customer_id=deal["customer_id"],
            customer=Prospect.model_validate(deal["prospect"]),
            customer_reference=body.customer_reference,
            source=deal.get("source"),
            seller=card,
            summary=review.summary,
            referrals=body.referrals,
            summary_version=1,
            closed_at=uow.now,
        )
        env = await record(
            uow,
            deal_id,
            closed,
            {
                "status": DealStatus.WON.value,
                "summary": review.summary.model_dump(mode="json"),
                "summary_version": 1,
                "seller_card": card.model_dump(mode="json"),
                "customer_reference": body.customer_reference,
                "closed_at": uow.now,
            },
        )
        referral_ids, lines = [], []
        for referral in body.referrals:
            ref_event = referral_event(deal, referral, uow.now)
            referral_ids.append(ref_event.referral_id)
            lines.append(history_entry(uow.emit(ref_event)))
        if body.referrals:
            await uow.db[DEALS].update_one(
                {"_id": deal_id},
                {
                    "$push": {
                        "referrals": {"$each": [r.model_dump(mode="json") for r in body.referrals]},
                        "history": {"$each": lines},
                    }
                },
                session=uow.session,
            )
        uow.cancel(stale_timer_key(deal_id))
        return accepted(
            env,
            summary_version=1,
            price=review.summary.price.model_dump(mode="json"),
            referral_ids=referral_ids,
        )

    return work


def amend_deal(
    settings: ClosingSettings, deal_id: str, principal: Principal, body: AmendmentDraft
) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        deal = await load_deal(uow, deal_id, principal)
        if deal["status"] != DealStatus.WON.value:
            raise Refused(
                409, {"detail": f"only a closed-won deal is amended; it is {deal['status']}"}
            )
        process = (await process_of(uow, deal, settings)).to_domain()
        current = DealSummary.model_validate(deal["summary"])
        review = amend(current, body, process.bundle_rules)
        if review.summary is None:
            raise Refused(422, {"missing": sorted(review.problems), "problems": review.problems})
        card = await load_seller_card(
            uow.db, uow.session, deal["organisation_id"], deal["seller_id"]
        ) or (SellerCard.model_validate(deal["seller_card"]))
        version = int(deal["summary_version"]) + 1
        amended = DealAmended(
            deal_id=deal_id,
            organisation_id=deal["organisation_id"],
            customer_id=deal["customer_id"],
            customer=Prospect.model_validate(deal["prospect"]),
            customer_reference=deal.get("customer_reference"),
            seller=card,
            summary=review.summary,
            summary_version=version,
            replaces_version=version - 1,
            change_note=body.change_note,
            amended_at=uow.now,
        )
        env = await record(
            uow,
            deal_id,
            amended,
            {"summary": review.summary.model_dump(mode="json"), "summary_version": version},
        )
        return accepted(
            env, summary_version=version, price=review.summary.price.model_dump(mode="json")
        )

    return work


# ------------------------------------------------------------------ directory and config (ops)


def put_seller_card(organisation_id: str, seller_id: str, card: SellerCard) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        stored = card.model_copy(update={"seller_id": seller_id})
        key = seller_card_key(organisation_id, seller_id)
        await uow.db[SELLERS].replace_one(
            {"_id": key},
            {
                "_id": key,
                "organisation_id": organisation_id,
                "seller_id": seller_id,
                "card": stored.model_dump(mode="json"),
                "updated_at": uow.now,
            },
            upsert=True,
            session=uow.session,
        )
        return {
            "organisation_id": organisation_id,
            "seller_id": seller_id,
            "card": stored.model_dump(mode="json"),
        }

    return work


def put_sales_process(organisation_id: str, config: SalesProcessConfig) -> Work:
    async def work(uow: UnitOfWork) -> Document:
        try:
            config.to_domain()
        except ValueError as exc:
            raise Refused(422, {"detail": str(exc)}) from exc
        await uow.db[ORGANISATIONS].replace_one(
            {"_id": organisation_id},
            {"_id": organisation_id, "process": config.model_dump(mode="json"), "at": uow.now},
            upsert=True,
            session=uow.session,
        )
        return {"organisation_id": organisation_id, "process": config.model_dump(mode="json")}

    return work
