"""The seller's and ops' commands, and what HTTP and the event handlers share: load the
deal through the repository, call its verb, save it, emit and arm what the verb caused;
all in the caller's unit of work (one transaction). A refusal
(``kauppa.servicekit.refusals``) rolls it back; nothing is remembered under the
Idempotency-Key, so the corrected call can be sent again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kauppa.closing.domain.amendment import AmendmentDraft
from kauppa.closing.domain.close_summary import CloseTerms, Draft, LineDraft
from kauppa.closing.domain.deal import Deal
from kauppa.closing.domain.sales_process import SalesProcess
from kauppa.closing.repository import Deals, Directory
from kauppa.closing.settings import ClosingSettings, SalesProcessConfig
from kauppa.contracts import (
    ContactChannel,
    ContactLogged,
    DealAmended,
    DealClosed,
    DealLost,
    DealStageChanged,
    Envelope,
    OfferSent,
    Referral,
    ReferralReceived,
    SellerCard,
)
from kauppa.contracts.bounds import Percent
from kauppa.servicekit.auth import Principal
from kauppa.servicekit.ids import ID_PATTERN
from kauppa.servicekit.refusals import Forbidden, Invalid, NotFound
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import Effects, UnitOfWork
from pydantic import AwareDatetime, Field

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


@dataclass(frozen=True)
class Deps:
    """What the handlers need beyond the unit of work (built in ``bootstrap``)."""

    settings: ClosingSettings
    default_process: SalesProcessConfig


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


# ------------------------------------------------------------------ shared steps


def may_act_for(principal: Principal, seller_id: str) -> bool:
    """Sellers act on their own deals; ops and admin on any (of their organisation: a
    deal of another is not found, see ``check_access``). The kit's rule, organisation
    checked apart."""
    return principal.may_see(principal.organisation_id, seller_id)


def check_access(principal: Principal, deal_id: str, owner: tuple[str, str] | None) -> None:
    """``owner``: the deal's (organisation, seller), None when there is no such deal.
    Another organisation's deal is not found; another seller's is forbidden."""
    if owner is None or not principal.may_act_in(owner[0]):
        raise NotFound(f"no deal {deal_id}")
    if not may_act_for(principal, owner[1]):
        raise Forbidden(f"deal {deal_id} belongs to another seller")


async def load_deal(uow: UnitOfWork, deal_id: str, principal: Principal) -> Deal:
    """The deal, if the caller may act on it."""
    deal = await uow.repository(Deals).get(deal_id)
    check_access(principal, deal_id, (deal.organisation_id, deal.seller_id) if deal else None)
    assert deal is not None
    return deal


async def load_with_process(
    uow: UnitOfWork, settings: ClosingSettings, deal_id: str, principal: Principal
) -> tuple[Deal, SalesProcess]:
    """The deal (if the caller may act on it) and its organisation's sales process."""
    deal = await load_deal(uow, deal_id, principal)
    org = deal.organisation_id
    configs = await uow.repository(Directory).processes([org], settings.default_process())
    return deal, configs[org].to_domain()


def emit(uow: UnitOfWork, effects: Effects) -> list[Envelope]:
    """Emit what a verb caused and arm its timers; the envelopes, for the history."""
    return uow.carry_out(effects)


async def apply(uow: UnitOfWork, deal: Deal, effects: Effects) -> list[Envelope]:
    """Emit and arm what the verb caused and save the deal with its history lines."""
    envelopes = emit(uow, effects)
    await uow.repository(Deals).save(deal, envelopes)
    return envelopes


def accepted(env: Envelope, status: int = 201, **extra: Any) -> Document:
    return {"_status": status, "deal_id": env.event.partition_key(), "event_id": env.id, **extra}


# ------------------------------------------------------------------ the buying path (D5)


async def log_contact(
    uow: UnitOfWork,
    settings: ClosingSettings,
    deal_id: str,
    principal: Principal,
    body: ContactDraft,
) -> Document:
    deal, process = await load_with_process(uow, settings, deal_id, principal)
    effects = deal.log_contact(
        body.channel, body.summary, body.contacted_at or uow.now, now=uow.now, process=process
    )
    envelopes = await apply(uow, deal, effects)
    return accepted(envelopes[0])


async def send_offer(
    uow: UnitOfWork, settings: ClosingSettings, deal_id: str, principal: Principal, body: OfferDraft
) -> Document:
    deal, process = await load_with_process(uow, settings, deal_id, principal)
    effects = deal.send_offer(
        body.offer_ref,
        body.lines,
        body.vat_rate,
        body.valid_until,
        body.sent_at or uow.now,
        now=uow.now,
        process=process,
    )
    envelopes = await apply(uow, deal, effects)
    offer = envelopes[0].event
    assert isinstance(offer, OfferSent)
    return accepted(envelopes[0], price=offer.price.model_dump(mode="json"))


async def move_stage(
    uow: UnitOfWork, settings: ClosingSettings, deal_id: str, principal: Principal, body: StageMove
) -> Document:
    deal, process = await load_with_process(uow, settings, deal_id, principal)
    effects = deal.move_stage(body.to_stage, now=uow.now, process=process)
    return accepted((await apply(uow, deal, effects))[0])


async def lose_deal(
    uow: UnitOfWork, deal_id: str, principal: Principal, body: LossReport
) -> Document:
    deal = await load_deal(uow, deal_id, principal)
    effects = deal.lose(body.reason, now=uow.now)
    return accepted((await apply(uow, deal, effects))[0])


# ------------------------------------------------------------------ referrals (D8)


async def record_referral(
    uow: UnitOfWork, deal_id: str, principal: Principal, body: Referral
) -> Document:
    deal = await load_deal(uow, deal_id, principal)
    effects = deal.refer(Referral.model_validate(body.model_dump()), now=uow.now)
    env = (await apply(uow, deal, effects))[0]
    referral = env.event
    assert isinstance(referral, ReferralReceived)
    return {"_status": 201, "referral_id": referral.referral_id, "event_id": env.id}


# ------------------------------------------------------------------ the close (D7, D9, D10)


async def close_deal(
    uow: UnitOfWork, settings: ClosingSettings, deal_id: str, principal: Principal, body: CloseTerms
) -> Document:
    deal, process = await load_with_process(uow, settings, deal_id, principal)
    card = await uow.repository(Directory).seller_card(deal.organisation_id, deal.seller_id)
    effects = deal.close(
        body,
        card,
        now=uow.now,
        process=process,
        allow_http=settings.kafka.profile == "local",
    )
    envelopes = await apply(uow, deal, effects)
    closed = envelopes[0].event
    assert isinstance(closed, DealClosed)
    return accepted(
        envelopes[0],
        summary_version=1,
        price=closed.summary.price.model_dump(mode="json"),
        referral_ids=referral_ids(envelopes[1:]),
    )


def referral_ids(envelopes: Sequence[Envelope]) -> list[str]:
    return [e.event.referral_id for e in envelopes if isinstance(e.event, ReferralReceived)]


async def amend_deal(
    uow: UnitOfWork,
    settings: ClosingSettings,
    deal_id: str,
    principal: Principal,
    body: AmendmentDraft,
) -> Document:
    deal, process = await load_with_process(uow, settings, deal_id, principal)
    card = await uow.repository(Directory).seller_card(deal.organisation_id, deal.seller_id)
    effects = deal.amend(body, card, now=uow.now, process=process)
    env = (await apply(uow, deal, effects))[0]
    amended = env.event
    assert isinstance(amended, DealAmended)
    return accepted(
        env,
        summary_version=amended.summary_version,
        price=amended.summary.price.model_dump(mode="json"),
    )


# ------------------------------------------------------------------ directory and config (ops)


async def put_seller_card(
    uow: UnitOfWork, organisation_id: str, seller_id: str, card: SellerCard
) -> Document:
    stored = card.model_copy(update={"seller_id": seller_id})
    await uow.repository(Directory).put_seller_card(organisation_id, seller_id, stored, uow.now)
    return {
        "organisation_id": organisation_id,
        "seller_id": seller_id,
        "card": stored.model_dump(mode="json"),
    }


async def put_sales_process(
    uow: UnitOfWork, organisation_id: str, config: SalesProcessConfig
) -> Document:
    try:
        config.to_domain()
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await uow.repository(Directory).put_process(organisation_id, config, uow.now)
    return {"organisation_id": organisation_id, "process": config.model_dump(mode="json")}
