"""The dashboard's only event handler and its table (``EVENTS``): every event of the
catalogue, from every topic, projected into the read models with one bulk write per
collection per batch. Read-only towards the rest of the system: it emits nothing."""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.contracts import Envelope, all_event_classes
from kauppa.dashboard.erasure import BatchErasures
from kauppa.dashboard.projections import project
from kauppa.dashboard.repository import ReadModels, Write
from kauppa.servicekit.routes import On
from kauppa.servicekit.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Deps:
    """Nothing beyond the unit of work: projections need only the events."""


async def update_read_models(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """Project a batch of events (any types, partition order kept) into the read models.
    An event of a customer erased before it (the erasure tombstone: the customer row's
    ``erased``) is projected with nothing personal in it."""
    repo = uow.repository(ReadModels)
    erasures = await BatchErasures.of(batch, repo)
    writes: list[Write] = []
    for env in batch:
        of_erased = erasures.of_erased(env)
        writes += project(env, erased=of_erased)
        writes += erasures.writes(env, of_erased=of_erased)
    await repo.apply(writes)


# Every type to the same batch handler (one handler for all: the pipeline then hands it
# whole runs of mixed types at once).
EVENTS = [On(event_class, update_read_models) for event_class in all_event_classes()]
