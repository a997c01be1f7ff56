"""The dashboard's only event handler: every event of the catalogue, from every topic,
projected into the read models with one bulk write per collection per batch. Read-only
towards the rest of the system: it emits nothing."""

from __future__ import annotations

from kauppa.contracts import CustomerErased, Envelope, all_event_classes
from kauppa.dashboard.projections import (
    CONFIRMATION_FAILURES,
    CUSTOMERS,
    DEALS,
    ERASED,
    Write,
    project,
)
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateMany, UpdateOne


async def _erasure_tombstones(batch: list[Envelope], uow: UnitOfWork) -> tuple[set[str], set[str]]:
    """The customers (and their deals) among the batch's that were erased before it."""
    customers = {c for env in batch if (c := getattr(env.event, "customer_id", None))}
    deals = {d for env in batch if (d := getattr(env.event, "deal_id", None))}
    erased = (
        set(
            await uow.db[CUSTOMERS].distinct(
                "_id", {"_id": {"$in": sorted(customers)}, "erased": True}, session=uow.session
            )
        )
        if customers
        else set()
    )
    erased_deals = (
        set(
            await uow.db[DEALS].distinct(
                "_id", {"_id": {"$in": sorted(deals)}, "erased": True}, session=uow.session
            )
        )
        if deals
        else set()
    )
    return erased, erased_deals


async def _deals_of_erased(batch: list[Envelope], uow: UnitOfWork) -> dict[str, list[str]]:
    """The deals of each customer the batch erases: those stored, and those the batch
    itself names (not written yet)."""
    erased = {env.event.customer_id for env in batch if isinstance(env.event, CustomerErased)}
    if not erased:
        return {}
    deals: dict[str, set[str]] = {c: set() for c in erased}
    async for d in uow.db[DEALS].find(
        {"customer_id": {"$in": sorted(erased)}}, {"customer_id": 1}, session=uow.session
    ):
        deals[d["customer_id"]].add(d["_id"])
    for env in batch:
        customer = getattr(env.event, "customer_id", None)
        deal = getattr(env.event, "deal_id", None)
        if customer in deals and deal:
            deals[customer].add(deal)
    return {c: sorted(ds) for c, ds in deals.items()}


async def update_read_models(batch: list[Envelope], uow: UnitOfWork) -> None:
    """Project a batch of events (any types, partition order kept) into the read models.
    An event of a customer erased before it (the erasure tombstone: the customer row's
    ``erased``) is projected with nothing personal in it."""
    per_collection: dict[str, list[UpdateOne | UpdateMany]] = {}
    erased, erased_deals = await _erasure_tombstones(batch, uow)
    deals_of_erased = await _deals_of_erased(batch, uow)
    deal_customer: dict[str, str] = {}
    for env in batch:
        event = env.event
        if isinstance(event, CustomerErased):
            erased.add(event.customer_id)
        customer = getattr(event, "customer_id", None)
        deal = getattr(event, "deal_id", None)
        if deal and customer:
            deal_customer[deal] = customer
        if deal and deal_customer.get(deal) in erased:
            erased_deals.add(deal)
        of_erased = (customer in erased or deal in erased_deals) and not isinstance(
            event, CustomerErased
        )
        writes: list[Write] = project(env, erased=of_erased)
        if isinstance(event, CustomerErased) and deals_of_erased.get(event.customer_id):
            # Failure reasons stored before the erasure (they may quote the person).
            writes.append(
                (
                    CONFIRMATION_FAILURES,
                    UpdateMany(
                        {
                            "deal_id": {"$in": deals_of_erased[event.customer_id]},
                            "organisation_id": event.organisation_id,
                        },
                        {"$set": {"reason": ERASED}},
                    ),
                )
            )
        if of_erased and deal:  # the deal's own tombstone, for its later customer-less events
            writes.append((DEALS, UpdateOne({"_id": deal}, {"$set": {"erased": True}})))
        for collection, op in writes:
            per_collection.setdefault(collection, []).append(op)
    for collection, ops in per_collection.items():
        # Ordered: a lead's assignment after its reassignment must land in that order.
        await uow.db[collection].bulk_write(ops, ordered=True, session=uow.session)


def build_handlers() -> Handlers:
    """A fresh registry taking every event type, all into the same batch handler (the
    pipeline then hands it whole runs of mixed types at once)."""
    handlers = Handlers()
    for event_class in all_event_classes():
        handlers.add(event_class, update_read_models)
    return handlers
