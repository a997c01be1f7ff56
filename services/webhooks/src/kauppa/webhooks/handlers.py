"""The event handler: remember each lead's source, and write one delivery per matching
subscription in the batch's own transaction (with the inbox: an event is taken once and
its deliveries exist exactly when it is taken). Sending is the sender's job."""

from __future__ import annotations

import itertools
import json
from typing import Any

from kauppa.contracts import Envelope, to_structured
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks.domain.catalogue import DELIVERABLE, EventFacts, Filters, facts_of, matches
from kauppa.webhooks.repository import DELIVERIES, LEAD_SOURCES, SUBSCRIPTIONS
from pymongo import UpdateOne

Document = dict[str, Any]

# Subscriptions that still collect deliveries (a paused or disabled one sends them later).
COLLECTING = ("active", "paused", "disabled")


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


def delivery_id(subscription_id: str, event_id: str) -> str:
    return f"{subscription_id}:{event_id}"


def body_of(env: Envelope) -> str:
    """The CloudEvents structured JSON, fixed once: every attempt sends the same bytes."""
    return json.dumps(to_structured(env), separators=(",", ":"), ensure_ascii=False)


def build_handlers() -> tuple[Handlers, Sequencer]:
    handlers = Handlers()
    sequencer = Sequencer()

    async def fan_out(batch: list[Envelope], uow: UnitOfWork) -> None:
        """One delivery per (event, matching subscription)."""
        db, session = uow.db, uow.session
        # Leads whose events carry their source: remember it (a LeadReassigned or a
        # deal without the source is matched by it later).
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
        if remember:
            await db[LEAD_SOURCES].bulk_write(
                [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in remember.items()],
                ordered=False,
                session=session,
            )
        missing = {
            lead_id
            for env in batch
            if getattr(env.event, "source", None) is None
            and isinstance(lead_id := getattr(env.event, "lead_id", None), str)
        }
        known: dict[str, tuple[str, str | None]] = {}
        if missing:
            async for d in db[LEAD_SOURCES].find({"_id": {"$in": list(missing)}}, session=session):
                known[d["_id"]] = (d["system"], d.get("partner"))
        facts: list[EventFacts] = []
        for env in batch:
            lead_id = getattr(env.event, "lead_id", None)
            facts.append(facts_of(env.event, known.get(lead_id) if lead_id else None))
        orgs = {f.organisation_id for f in facts if f.organisation_id}
        if not orgs:
            return
        subs = await (
            db[SUBSCRIPTIONS]
            .find(
                {"organisation_id": {"$in": list(orgs)}, "state": {"$in": list(COLLECTING)}},
                {"organisation_id": 1, "event_types": 1, "filters": 1},
                session=session,
            )
            .to_list()
        )
        if not subs:
            return
        compiled = [
            (s["_id"], s["organisation_id"], frozenset(s["event_types"]), Filters.of(s["filters"]))
            for s in subs
        ]
        now_ms = int(uow.now.timestamp() * 1000)
        ops: list[UpdateOne] = []
        for env, fact in zip(batch, facts, strict=True):
            body: str | None = None
            for sub_id, org, types, filters in compiled:
                if not matches(fact, org, types, filters):
                    continue
                body = body or body_of(env)
                key = delivery_id(sub_id, env.id)
                doc: Document = {
                    "subscription_id": sub_id,
                    "organisation_id": org,
                    "event_id": env.id,
                    "event_type": fact.type_name,
                    "key": env.subject,
                    "seq": sequencer.next(now_ms),
                    "event_time": env.time,
                    "created_at": uow.now,
                    "body": body,
                    "state": "pending",
                    "open": True,
                    "attempts": 0,
                    "next_attempt_at": uow.now,
                }
                ops.append(UpdateOne({"_id": key}, {"$setOnInsert": doc}, upsert=True))
        if ops:
            await db[DELIVERIES].bulk_write(ops, ordered=True, session=session)

    for cls in DELIVERABLE:
        handlers.add(cls, fan_out)
    return handlers, sequencer
