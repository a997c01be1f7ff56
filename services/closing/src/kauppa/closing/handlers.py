"""Event and timer handlers, and the service's table of them (``EVENTS``, ``TIMERS``): a
deal opens when a seller accepts a lead; a quiet deal reminds its seller; an erased
customer is anonymised (``erasure.py``). Thin: load through the repository, call the
deal's verb, save, emit and arm what it caused."""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.closing.commands import Deps, emit
from kauppa.closing.domain.deal import STALE_DEAL, Deal, opening_event
from kauppa.closing.domain.identity import customer_id_for, deal_id_for
from kauppa.closing.erasure import erase_customer, erased_before
from kauppa.closing.repository import Deals, Directory, history_entry
from kauppa.contracts import (
    CustomerErased,
    DealOpened,
    Envelope,
    LeadAccepted,
    StaleDealReminder,
)
from kauppa.contracts.identity import normalise_business_id
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.repository import Document
from kauppa.servicekit.routes import Every, On
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import Emission, Preparation, UnitOfWork

log = get_logger(__name__)

# The first stage a deal is prepared with: that of the default process (organisations
# and deployments with stages of their own get the event built afresh in the handler).


@dataclass(frozen=True)
class DealPlan:
    """What opening a deal needs that follows from the ``LeadAccepted`` alone (see
    ``prepare_deal``)."""

    opened: DealOpened
    emission: Emission
    dumped: Document  # ``opened`` in its JSON form, as the deal's history keeps it
    business_key: str | None


def prepare_deal(env: Envelope, prep: Preparation, deps: Deps) -> DealPlan:
    """The pure part of opening a deal, done while the batch before commits: ids, the
    ``DealOpened`` wrapped and encoded, and its JSON form for the deal's history. The
    first stage is the default process's (``CLOSING_STAGES``); ``open_deals`` checks it
    against the organisation's process and builds the event afresh if it differs."""
    lead = env.event
    assert isinstance(lead, LeadAccepted)
    opened = DealOpened(
        deal_id=deal_id_for(lead.lead_id),
        lead_id=lead.lead_id,
        organisation_id=lead.organisation_id,
        customer_id=customer_id_for(lead.organisation_id, lead.prospect),
        seller_id=lead.seller_id,
        prospect=lead.prospect,
        source=lead.source,
        stage=deps.default_process.stages[0],
        opened_at=lead.accepted_at,
    )
    return DealPlan(
        opened,
        prep.emit(opened, cause=env),
        opened.model_dump(mode="json"),
        normalise_business_id(lead.prospect.business_id),
    )


async def open_deals(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D5: an accepted lead starts the buying path. The deal id comes from the lead,
    so an acceptance delivered twice (even under a new event id) opens one deal."""
    leads: list[tuple[Envelope, LeadAccepted]] = [
        (env, env.event) for env in batch if isinstance(env.event, LeadAccepted)
    ]
    deals = uow.repository(Deals)
    known = await deals.known([deal_id_for(lead.lead_id) for _, lead in leads])
    configs = await uow.repository(Directory).processes(
        (lead.organisation_id for _, lead in leads), deps.default_process
    )
    processes = {org: config.to_domain() for org, config in configs.items()}
    plans: list[tuple[Envelope, LeadAccepted, DealPlan]] = [
        (env, lead, uow.plan(env)) for env, lead in leads
    ]
    erased = await erased_before(
        uow,
        [(lead.organisation_id, p.opened.customer_id, p.business_key) for _, lead, p in plans],
    )
    opened: list[tuple[Deal, Document]] = []
    for env, lead, plan in plans:
        if plan.opened.deal_id in known:
            log.info("lead_already_has_deal", deal_id=plan.opened.deal_id, lead_id=lead.lead_id)
            continue
        known.add(plan.opened.deal_id)
        process = processes[lead.organisation_id]
        was_erased = bool(
            {
                (lead.organisation_id, plan.opened.customer_id),
                (lead.organisation_id, plan.business_key or ""),
            }
            & erased
        )
        event = opening_event(plan.opened, process.first_stage, was_erased)
        if event is plan.opened:
            out, dumped = uow.emit_prepared(plan.emission), plan.dumped
        else:
            out, dumped = uow.emit(event, cause=env), event.model_dump(mode="json")
        deal = Deal.opened(
            event, dumped, lead, business_key=plan.business_key, now=uow.now, erased=was_erased
        )
        opened.append((deal, history_entry(out, dumped)))
        uow.timers.append(deal.stale_timer(process, new=True))
    await deals.add(opened)


async def remind_stale_deals(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """D5: long deals must not be forgotten (``Deal.remind_stale``). A deal closed or
    lost since its timer was armed is not reminded about."""
    deals = uow.repository(Deals)
    found = await deals.open_ones([t.payload["deal_id"] for t in timers])
    configs = await uow.repository(Directory).processes(
        (d.organisation_id for d in found.values()), deps.default_process
    )
    saves: list[tuple[Deal, list[Envelope]]] = []
    for timer in timers:
        deal = found.get(timer.payload["deal_id"])
        if deal is None:
            continue
        process = configs[deal.organisation_id].to_domain()
        saves.append((deal, emit(uow, deal.remind_stale(now=uow.now, process=process))))
    await deals.save_all(saves)


EVENTS = [
    # ``prepare`` stays for throughput: bench "closing: LeadAccepted -> DealOpened".
    On(LeadAccepted, open_deals, emits=[DealOpened], prepare=prepare_deal),
    On(CustomerErased, erase_customer, one=True),
]
TIMERS = [Every(STALE_DEAL, remind_stale_deals, emits=[StaleDealReminder])]
