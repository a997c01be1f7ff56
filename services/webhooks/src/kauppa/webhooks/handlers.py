"""The event handler and the service's table (``EVENTS``): remember each lead's source,
and write one delivery per matching subscription in the batch's own transaction (with
the inbox: an event is taken once and its deliveries exist exactly when it is taken).
Sending is the sender's job (``sender.py``)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from kauppa.contracts import CustomerErased, Envelope, to_structured
from kauppa.servicekit.repository import Document
from kauppa.servicekit.routes import On
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks.domain.catalogue import DELIVERABLE, EventFacts, Filters, facts_of, matches
from kauppa.webhooks.erasure import erase_customers
from kauppa.webhooks.repository import Webhooks


class Sequencer:
    """Increasing numbers ordering the deliveries of one key: milliseconds of the clock
    times a million plus a counter, never going back within the process. A key's events
    all come from one partition, taken by one consumer, in order."""

    def __init__(self) -> None:
        self.last = 0
        self.counter = itertools.count()

    def next(self, now_ms: int) -> int:
        value = max(now_ms * 1_000_000 + next(self.counter) % 1_000_000, self.last + 1)
        self.last = value
        return value


@dataclass(frozen=True)
class Deps:
    """What the handler needs beyond its unit of work: the runtime's own sequencer."""

    sequencer: Sequencer = field(default_factory=Sequencer)


def delivery_id(subscription_id: str, event_id: str) -> str:
    return f"{subscription_id}:{event_id}"


def body_of(env: Envelope) -> str:
    """The CloudEvents structured JSON, fixed once: every attempt sends the same bytes."""
    return json.dumps(to_structured(env), separators=(",", ":"), ensure_ascii=False)


async def fan_out(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """One delivery per (event, matching subscription)."""
    repo = uow.repository(Webhooks)
    # Leads whose events carry their source: remember it (a LeadReassigned or a deal
    # without the source is matched by it later).
    remember: dict[str, Document] = {}
    for env in batch:
        ev = env.event
        lead_id, source = getattr(ev, "lead_id", None), getattr(ev, "source", None)
        if isinstance(lead_id, str) and source is not None:
            remember[lead_id] = {
                "organisation_id": getattr(ev, "organisation_id", None),
                "system": source.system,
                "partner": source.partner,
                "at": uow.now,
            }
    await repo.remember_sources(remember)
    missing = {
        lead_id
        for env in batch
        if getattr(env.event, "source", None) is None
        and isinstance(lead_id := getattr(env.event, "lead_id", None), str)
    }
    known = await repo.lead_sources(missing)
    facts: list[EventFacts] = []
    for env in batch:
        lead_id = getattr(env.event, "lead_id", None)
        facts.append(facts_of(env.event, known.get(lead_id) if lead_id else None))
    orgs = {f.organisation_id for f in facts if f.organisation_id}
    if not orgs:
        return
    subs = await repo.collecting(orgs)
    if not subs:
        return
    compiled = [
        (s["_id"], s["organisation_id"], frozenset(s["event_types"]), Filters.of(s["filters"]))
        for s in subs
    ]
    now_ms = int(uow.now.timestamp() * 1000)
    deliveries: list[tuple[str, Document]] = []
    for env, fact in zip(batch, facts, strict=True):
        body: str | None = None
        for sub_id, org, types, filters in compiled:
            if not matches(fact, org, types, filters):
                continue
            body = body or body_of(env)
            doc: Document = {
                "subscription_id": sub_id,
                "organisation_id": org,
                "event_id": env.id,
                "event_type": fact.type_name,
                "key": env.subject,
                "seq": deps.sequencer.next(now_ms),
                "event_time": env.time,
                "created_at": uow.now,
                "body": body,
                "state": "pending",
                "open": True,
                "attempts": 0,
                "next_attempt_at": uow.now,
            }
            deliveries.append((delivery_id(sub_id, env.id), doc))
    await repo.add_deliveries(deliveries)


EVENTS = [
    *(On(cls, fan_out) for cls in DELIVERABLE),
    On(CustomerErased, erase_customers),  # erasure.py
]
