"""The dashboard's only event handler: every event of the catalogue, from every topic,
projected into the read models with one bulk write per collection per batch. Read-only
towards the rest of the system: it emits nothing."""

from __future__ import annotations

from kauppa.contracts import Envelope, all_event_classes
from kauppa.dashboard.projections import Write, project
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateMany, UpdateOne


async def update_read_models(batch: list[Envelope], uow: UnitOfWork) -> None:
    """Project a batch of events (any types, partition order kept) into the read models."""
    per_collection: dict[str, list[UpdateOne | UpdateMany]] = {}
    for env in batch:
        writes: list[Write] = project(env)
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
