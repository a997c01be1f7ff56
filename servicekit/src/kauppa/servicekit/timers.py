"""Durable timers in MongoDB: "send next business morning", "call a week after delivery".

A timer is a document under a deterministic key in ``_timers`` (scheduled through the
unit of work, so it commits with the change that wanted it). The scheduler claims due
timers with a lease (so several replicas never fire one twice), then fires each claimed
batch in ONE transaction: the kind's handler runs (emitting events through the outbox)
and the timer is marked fired only if this replica still holds the lease. After
downtime, overdue timers fire at once, with their lateness recorded.

Idle cost: one indexed query for the next due time, then sleep until then (at most
``poll_max``); scheduling an earlier timer in this process wakes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kauppa.servicekit.clock import Clock
from kauppa.servicekit.committer import Committer
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import Indexes, is_transient
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import TIMERS, UnitOfWork
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

log = get_logger(__name__)

TIMER_INDEXES = Indexes(
    TIMERS,
    (
        IndexModel([("state", ASCENDING), ("due_at", ASCENDING)], name="due"),
        IndexModel([("claimed_by", ASCENDING)], name="claim", sparse=True),
        # Fired timers are kept a month for audit, then expire.
        IndexModel([("fired_at", ASCENDING)], name="fired_ttl", expireAfterSeconds=30 * 86400),
    ),
)


class LostLease(Exception):
    """Another replica took the timer over; this transaction must not fire it."""


@dataclass(frozen=True)
class DueTimer:
    key: str
    kind: str
    due_at: datetime
    payload: Document
    fired_at: datetime

    @property
    def lateness(self) -> timedelta:
        return max(self.fired_at - self.due_at, timedelta(0))


TimerHandler = Callable[[list[DueTimer], UnitOfWork], Awaitable[None]]


class TimerScheduler:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        committer: Committer,
        clock: Clock,
        metrics: ServiceMetrics,
        handlers: dict[str, TimerHandler],
        *,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 500,
        poll_max: float = 0.5,
    ) -> None:
        self.db, self.committer, self.clock, self.metrics = db, committer, clock, metrics
        self.handlers, self.lease, self.batch, self.poll_max = handlers, lease, batch, poll_max
        self.owner = f"timers-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something earlier may have been scheduled: look again now."""
        self._wake.set()

    async def claim(self, now: datetime) -> tuple[str, list[Document]]:
        claimable = {
            "state": "scheduled",
            "due_at": {"$lte": now},
            "$or": [{"claim_until": {"$exists": False}}, {"claim_until": {"$lt": now}}],
        }
        ids = [
            d["_id"]
            async for d in self.db[TIMERS]
            .find(claimable, {"_id": 1})
            .sort("due_at", ASCENDING)
            .limit(self.batch)
        ]
        if not ids:
            return "", []
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        await self.db[TIMERS].update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {"claimed_by": token, "claim_until": now + self.clock.span(self.lease)}},
        )
        won = await self.db[TIMERS].find({"claimed_by": token}).to_list()
        return token, won

    async def fire_due(self) -> int:
        """Claim and fire one batch of due timers. Returns how many fired."""
        now = self.clock.now()
        token, docs = await self.claim(now)
        if not docs:
            return 0
        by_kind: dict[str, list[Document]] = defaultdict(list)
        for doc in docs:
            by_kind[doc["kind"]].append(doc)
        fired = 0
        for kind, group in by_kind.items():
            handler = self.handlers.get(kind)
            if handler is None:
                log.error("timer_kind_unknown", kind=kind, count=len(group))
                await self.db[TIMERS].update_many(
                    {"_id": {"$in": [d["_id"] for d in group]}, "claimed_by": token},
                    {"$set": {"state": "orphaned"}},
                )
                continue
            fired += await self._fire(kind, handler, group, token)
        return fired

    async def _fire(
        self, kind: str, handler: TimerHandler, docs: list[Document], token: str
    ) -> int:
        async def work(uow: UnitOfWork) -> list[DueTimer]:
            due = [
                DueTimer(d["_id"], kind, d["due_at"], d.get("payload") or {}, uow.now) for d in docs
            ]
            result = await uow.db[TIMERS].bulk_write(
                [
                    UpdateOne(
                        {"_id": t.key, "claimed_by": token, "state": "scheduled"},
                        {
                            "$set": {
                                "state": "fired",
                                "fired_at": t.fired_at,
                                "lateness_seconds": t.lateness.total_seconds(),
                            }
                        },
                    )
                    for t in due
                ],
                session=uow.session,
            )
            if result.modified_count != len(due):
                raise LostLease(f"{len(due) - result.modified_count} timer(s) taken over")
            await handler(due, uow)
            return due

        firing = "|".join(f"{d['_id']}@{d['due_at'].isoformat()}" for d in docs)
        try:
            fired = await self.committer.commit(work, cause_id=f"timers:{firing}")
        except Exception as exc:
            if is_transient(exc):
                raise  # the database or broker: the run loop waits and tries again
            if len(docs) == 1:
                if not isinstance(exc, LostLease):
                    await self._park(kind, docs[0], token, exc)
                return 0
            # Someone else holds some of them now (LostLease), or the handler failed on
            # one of them: fire them singly, so only the one it fails on is parked.
            total = 0
            for doc in docs:
                total += await self._fire(kind, handler, [doc], token)
            return total
        for t in fired:
            self.metrics.timers_fired.labels(self.metrics.service, kind).inc()
            self.metrics.timer_lateness.labels(self.metrics.service).observe(
                t.lateness.total_seconds()
            )
        if fired:
            worst = max(t.lateness for t in fired)
            if worst > timedelta(seconds=60):
                log.warning(
                    "timers_fired_late",
                    kind=kind,
                    count=len(fired),
                    worst_lateness_s=worst.total_seconds(),
                )
        return len(fired)

    async def _park(self, kind: str, doc: Document, token: str, exc: BaseException) -> None:
        """A timer its handler fails on alone: never retried forever, never dropped
        unseen. It is kept in ``_timers`` as ``failed`` with the error, logged and
        counted (``kauppa_timers_failed_total``); setting its state back to
        ``scheduled`` fires it again once the cause is fixed."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await self.db[TIMERS].update_one(
            {"_id": doc["_id"], "claimed_by": token, "state": "scheduled"},
            {"$set": {"state": "failed", "error": error, "failed_at": self.clock.now()}},
        )
        self.metrics.timers_failed.labels(self.metrics.service, kind).inc()
        log.error(
            "timer_failed_parked",
            kind=kind,
            key=doc["_id"],
            error_type=type(exc).__name__,
            error=error[:500],
        )

    async def next_due(self) -> datetime | None:
        doc = await self.db[TIMERS].find_one(
            {"state": "scheduled"}, {"due_at": 1}, sort=[("due_at", ASCENDING)]
        )
        return doc["due_at"] if doc else None

    async def due_count(self, now: datetime) -> int:
        return await self.db[TIMERS].count_documents(
            {"state": "scheduled", "due_at": {"$lte": now}}
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sleep_for = self.poll_max
            try:
                while await self.fire_due() >= self.batch:
                    pass  # a full batch: there may be more due right now
                nxt = await self.next_due()
                if nxt is not None:
                    until = self.clock.real_seconds(nxt - self.clock.now())
                    sleep_for = min(max(until, 0.0), self.poll_max)
            except Exception as exc:
                if is_transient(exc):
                    log.warning(
                        "timers_waiting_for_database",
                        error_type=type(exc).__name__,
                        error=str(exc)[:200],
                    )
                    sleep_for = 1.0
                else:
                    log.exception("timer_firing_failed")
                    sleep_for = 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=sleep_for)
