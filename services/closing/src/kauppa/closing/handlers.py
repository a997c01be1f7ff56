"""Event and timer handlers: a deal opens when a seller accepts a lead; a quiet deal
reminds its seller. Thin: load, ask the domain, write, emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kauppa.closing.deal_store import (
    DEALS,
    ERASURES,
    erasure_key,
    history_entry,
    load_processes,
    stale_timer_key,
)
from kauppa.closing.domain.erasure import (
    erase_customer_deal,
    erase_prospect,
    erase_referrals_of,
    same_email,
)
from kauppa.closing.domain.identity import customer_id_for, deal_id_for
from kauppa.closing.domain.sales_process import (
    DealStatus,
    SalesProcess,
    days_without_contact,
    stale_reminder_due,
)
from kauppa.closing.settings import ClosingSettings
from kauppa.contracts import (
    CustomerErased,
    DealOpened,
    Envelope,
    LeadAccepted,
    Prospect,
    StaleDealReminder,
)
from kauppa.contracts.identity import normalise_business_id
from kauppa.servicekit.emits import emits
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.mongo import equals_ignoring_case
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.timers import DueTimer, TimerHandler
from kauppa.servicekit.unit_of_work import Emission, Preparation, UnitOfWork
from pymongo import UpdateOne

log = get_logger(__name__)
Document = dict[str, Any]
STALE_DEAL = "stale_deal"


@dataclass(frozen=True)
class DealPlan:
    """What opening a deal needs that follows from the ``LeadAccepted`` alone (see
    ``prepare_deal``)."""

    opened: DealOpened
    emission: Emission
    dumped: Document  # ``opened`` in its JSON form, as the deal's history keeps it
    business_key: str | None


def build_handlers(settings: ClosingSettings) -> Handlers:
    handlers = Handlers()
    default = settings.default_process()

    default_first_stage = default.to_domain().first_stage

    def prepare_deal(env: Envelope, prep: Preparation) -> DealPlan:
        """The pure part of opening a deal, done while the batch before commits: ids, the
        ``DealOpened`` wrapped and encoded, and its JSON form for the deal's history. The
        first stage is the default process's; ``open_deals`` checks it against the
        organisation's configured process and builds the event afresh if it differs."""
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
            stage=default_first_stage,
            opened_at=lead.accepted_at,
        )
        return DealPlan(
            opened,
            prep.emit(opened, cause=env),
            opened.model_dump(mode="json"),
            normalise_business_id(lead.prospect.business_id),
        )

    @handlers.on_batch(LeadAccepted, prepare=prepare_deal, emits=[DealOpened])
    async def open_deals(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D5: an accepted lead starts the buying path. The deal id comes from the lead,
        so an acceptance delivered twice (even under a new event id) opens one deal."""
        leads: list[tuple[Envelope, LeadAccepted]] = [
            (env, env.event) for env in batch if isinstance(env.event, LeadAccepted)
        ]
        ids = [deal_id_for(lead.lead_id) for _, lead in leads]
        known = {
            d["_id"]
            async for d in uow.db[DEALS].find(
                {"_id": {"$in": ids}}, {"_id": 1}, session=uow.session
            )
        }
        configs = await load_processes(
            uow.db, uow.session, (lead.organisation_id for _, lead in leads), default
        )
        processes: dict[str, SalesProcess] = {o: c.to_domain() for o, c in configs.items()}
        keys = set()
        for env, lead in leads:
            plan_of: DealPlan = uow.plan(env)
            keys.add(erasure_key(lead.organisation_id, plan_of.opened.customer_id))
            if plan_of.business_key:
                keys.add(erasure_key(lead.organisation_id, plan_of.business_key))
        erased_keys = {
            d["_id"]
            async for d in uow.db[ERASURES].find(
                {"_id": {"$in": sorted(keys)}}, {"_id": 1}, session=uow.session
            )
        }
        deals: list[Document] = []
        for env, lead in leads:
            plan: DealPlan = uow.plan(env)
            opened = plan.opened
            if opened.deal_id in known:
                log.info("lead_already_has_deal", deal_id=opened.deal_id, lead_id=lead.lead_id)
                continue
            known.add(opened.deal_id)
            process = processes[lead.organisation_id]
            erased_before = bool(
                {
                    erasure_key(lead.organisation_id, opened.customer_id),
                    erasure_key(lead.organisation_id, plan.business_key or ""),
                }
                & erased_keys
            )
            if erased_before:  # the customer was erased: the deal opens without them
                anonymous = erase_prospect(opened.prospect.model_dump(mode="json"))
                opened = opened.model_copy(update={"prospect": Prospect.model_validate(anonymous)})
                out = uow.emit(opened, cause=env)
                dumped = opened.model_dump(mode="json")
            elif opened.stage == process.first_stage:
                out = uow.emit_prepared(plan.emission)
                dumped = plan.dumped
            else:  # the organisation starts its deals at a stage of its own
                opened = opened.model_copy(update={"stage": process.first_stage})
                out = uow.emit(opened, cause=env)
                dumped = opened.model_dump(mode="json")
            deals.append(
                {
                    "_id": opened.deal_id,
                    "lead_id": lead.lead_id,
                    "organisation_id": lead.organisation_id,
                    "customer_id": opened.customer_id,
                    "seller_id": lead.seller_id,
                    "prospect": dumped["prospect"],
                    "business_key": plan.business_key,
                    "source": dumped["source"],
                    "product_interest": list(lead.product_interest),
                    "stage": opened.stage,
                    "status": DealStatus.OPEN.value,
                    "opened_at": opened.opened_at,
                    "last_contact_at": opened.opened_at,
                    "contacts": 0,
                    "offers": {},
                    "referrals": [],
                    "summary_version": 0,
                    "updated_at": uow.now,
                    "history": [history_entry(out, dumped)],
                    **({"erased_at": uow.now} if erased_before else {}),
                }
            )
            uow.schedule(
                stale_timer_key(opened.deal_id),
                stale_reminder_due(opened.opened_at, opened.stage, process),
                STALE_DEAL,
                {"deal_id": opened.deal_id},
                new=True,  # the deal is new in this transaction, so is its timer
            )
        if deals:
            await uow.db[DEALS].insert_many(deals, ordered=False, session=uow.session)

    @handlers.on(CustomerErased)
    async def erase_customer(env: Envelope, uow: UnitOfWork) -> None:
        """GDPR erasure: anonymise the customer's contact person, referrals and free text
        on its deals (by customer id, business id or the contact's email, within the
        organisation), and the erased person as a referral on other deals. Ids, amounts,
        dates, counts and statuses stay. Idempotent: an erased deal maps to itself, so a
        second delivery writes nothing. Emits nothing; the stale-deal timer stays (it
        reminds the seller, carries no personal data)."""
        erased = env.event
        assert isinstance(erased, CustomerErased)
        email = erased.email.strip() if erased.email else None
        email_match = equals_ignoring_case(email) if email else None
        own: list[Document] = [{"customer_id": erased.customer_id}]
        business_key = normalise_business_id(erased.business_id)
        if business_key:
            # Any spelling of the id (1234567-8, FI12345678); deals stored before the
            # normalised key existed match on the id as written.
            own += [{"business_key": business_key}, {"prospect.business_id": erased.business_id}]
        if email_match:
            own.append({"prospect.contact.email": email_match})
        referred = [{"referrals.email": email_match}] if email_match else []
        query = {"organisation_id": erased.organisation_id, "$or": [*own, *referred]}
        writes: list[UpdateOne] = []
        async for deal in uow.db[DEALS].find(query, session=uow.session):
            is_own = (
                deal.get("customer_id") == erased.customer_id
                or (business_key and normalise_business_id(deal_business_id(deal)) == business_key)
                or (email and same_email(deal_contact_email(deal), email))
            )
            if is_own:
                changes = erase_customer_deal(deal)
            else:
                assert email is not None
                changes = erase_referrals_of(deal, email)
            if changes:
                if is_own and "erased_at" not in deal:
                    changes["erased_at"] = erased.erased_at
                writes.append(UpdateOne({"_id": deal["_id"]}, {"$set": changes}))
        if writes:
            await uow.db[DEALS].bulk_write(writes, ordered=False, session=uow.session)
        # The tombstone: a deal opened after this (a late or replayed LeadAccepted, from
        # another topic) is opened already erased.
        tombstones = [{"_id": erasure_key(erased.organisation_id, erased.customer_id)}]
        if business_key:
            tombstones.append({"_id": erasure_key(erased.organisation_id, business_key)})
        for t in tombstones:
            await uow.db[ERASURES].update_one(
                t, {"$setOnInsert": {"at": erased.erased_at}}, upsert=True, session=uow.session
            )
        log.info(
            "customer_erased",
            customer_id=erased.customer_id,
            organisation_id=erased.organisation_id,
            deals_changed=len(writes),
        )

    return handlers


def deal_business_id(deal: Document) -> str | None:
    return (deal.get("prospect") or {}).get("business_id")


def deal_contact_email(deal: Document) -> str | None:
    return ((deal.get("prospect") or {}).get("contact") or {}).get("email")


def build_timer_handlers(settings: ClosingSettings) -> dict[str, TimerHandler]:
    default = settings.default_process()

    @emits(StaleDealReminder)
    async def remind_stale_deals(timers: list[DueTimer], uow: UnitOfWork) -> None:
        """D5: long deals must not be forgotten. No contact for the stage's window: remind
        the seller, and again after another window while the deal stays quiet."""
        ids = [t.payload["deal_id"] for t in timers]
        deals = {
            d["_id"]: d
            async for d in uow.db[DEALS].find(
                {"_id": {"$in": ids}, "status": DealStatus.OPEN.value}, session=uow.session
            )
        }
        configs = await load_processes(
            uow.db, uow.session, (d["organisation_id"] for d in deals.values()), default
        )
        history: list[UpdateOne] = []
        for timer in timers:
            deal = deals.get(timer.payload["deal_id"])
            if deal is None:
                continue  # closed or lost since: nothing to remind about
            process = configs[deal["organisation_id"]].to_domain()
            reminder = StaleDealReminder(
                deal_id=deal["_id"],
                organisation_id=deal["organisation_id"],
                seller_id=deal["seller_id"],
                stage=deal["stage"],
                last_contact_at=deal["last_contact_at"],
                days_without_contact=days_without_contact(deal["last_contact_at"], uow.now),
            )
            out = uow.emit(reminder)
            history.append(
                UpdateOne({"_id": deal["_id"]}, {"$push": {"history": history_entry(out)}})
            )
            uow.schedule(
                timer.key,
                uow.now + process.stale_after(deal["stage"]),
                STALE_DEAL,
                {"deal_id": deal["_id"]},
            )
        if history:
            await uow.db[DEALS].bulk_write(history, ordered=False, session=uow.session)

    return {STALE_DEAL: remind_stale_deals}
