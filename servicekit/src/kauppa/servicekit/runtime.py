"""A service at run time: the one object that wires the kit's parts together.

A service's ``bootstrap.py`` builds a ``ServiceRuntime`` with its handlers, timer
handlers and indexes; ``create_app`` puts HTTP on top. ``start`` connects, creates
indexes and starts the consumer, the outbox relay and the timer scheduler; ``stop``
finishes the batch in hand, commits, and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from kauppa.contracts import Event
from kauppa.contracts.topics import dead_letter_topic
from kauppa.servicekit.clock import Clock, clock_from_settings
from kauppa.servicekit.committer import Committer
from kauppa.servicekit.consumer import KafkaBatchConsumer
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import Indexes, connect, ensure_indexes, is_transient, ping
from kauppa.servicekit.outbox import OutboxPublisher
from kauppa.servicekit.pipeline import BatchOutcome, DecodedBatch, EventPipeline, Handlers
from kauppa.servicekit.producer import EventProducer, kafka_security
from kauppa.servicekit.settings import ServiceSettings
from kauppa.servicekit.timers import TIMER_INDEXES, TimerHandler, TimerScheduler
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, INBOX, OUTBOX
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

log = get_logger(__name__)

KIT_INDEXES: tuple[Indexes, ...] = (
    # One inbox row per transaction lists the event ids it took; the unique multikey
    # index finds a repeat and refuses a racing replica's second take. Kafka keeps
    # records 30 days; the inbox remembers ids a little longer than that.
    Indexes(
        INBOX,
        (
            IndexModel([("ids", ASCENDING)], name="inbox_ids", unique=True, sparse=True),
            IndexModel([("at", ASCENDING)], name="inbox_ttl", expireAfterSeconds=35 * 86400),
        ),
    ),
    Indexes(
        OUTBOX,
        (
            IndexModel([("created_at", ASCENDING)], name="outbox_age"),
            IndexModel([("claimed_by", ASCENDING)], name="outbox_claim", sparse=True),
        ),
    ),
    Indexes(
        IDEMPOTENCY,
        (IndexModel([("at", ASCENDING)], name="idempotency_ttl", expireAfterSeconds=7 * 86400),),
    ),
    TIMER_INDEXES,
)


#: A start-up data migration: idempotent, run after the indexes at every start.
Migration = Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[None]]


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        handlers: Handlers | None = None,
        *,
        timer_handlers: dict[str, TimerHandler] | None = None,
        indexes: Sequence[Indexes] = (),
        emits: Sequence[type[Event]] = (),
        clock: Clock | None = None,
        consume: bool = True,
        run_timers: bool = True,
        run_relay: bool = True,
        migrations: Sequence[Migration] = (),
    ) -> None:
        self.settings = settings
        self.migrations = tuple(migrations)
        self.name = settings.service_name
        self.handlers = handlers or Handlers()
        self.timer_handlers = timer_handlers or {}
        self.indexes = tuple(indexes)
        self.emits = tuple(emits)
        self._publishers_declared = False
        self.clock = clock or clock_from_settings(settings.clock)
        self.metrics = ServiceMetrics(self.name)
        self.client = connect(settings.mongo)
        self.db = self.client[settings.database]
        self.producer = EventProducer(settings.kafka, client_id=f"kauppa-{self.name}")
        self.publisher = OutboxPublisher(
            self.db,
            self.producer,
            self.metrics,
            self.clock,
            grace=timedelta(seconds=settings.outbox_relay_grace_seconds),
        )
        self.committer = Committer(
            self.client, self.db, self.clock, self.publisher, self.metrics, f"kauppa/{self.name}"
        )
        self.pipeline = EventPipeline(
            self.name, self.handlers, self.committer, self.producer, self.metrics
        )
        self.timers = TimerScheduler(
            self.db,
            self.committer,
            self.clock,
            self.metrics,
            self.timer_handlers,
            lease=timedelta(seconds=settings.timer_lease_seconds),
            batch=settings.timer_batch,
            poll_max=settings.timer_poll_max_seconds,
        )
        topics = settings.consume_topics or self.handlers.topics()
        self.consumer: KafkaBatchConsumer | None = (
            KafkaBatchConsumer(
                settings.kafka,
                settings.consumer_group,
                topics,
                self.pipeline.decode,
                self.process_decoded,
                client_id=f"kauppa-{self.name}",
                description="Handles " + ", ".join(sorted(self.handlers.by_type)),
            )
            if consume and topics
            else None
        )
        self._run_timers, self._run_relay = run_timers, run_relay
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.started = False

    def asyncapi(self) -> dict[str, Any]:
        """The service's AsyncAPI 3.0 document, generated from the code: the topics it
        consumes (and which event types) and the events it emits, with their schemas."""
        from faststream.kafka import KafkaBroker
        from faststream.specification import AsyncAPI

        broker = self.consumer.broker if self.consumer else KafkaBroker(logger=None)
        if not self._publishers_declared:
            for cls in self.emits:
                broker.publisher(
                    cls.topic,
                    title=f"{cls.topic}:{cls.type_name}",
                    description=f"{cls.ce_type()}: {cls.meaning}",
                    schema=cls,
                )
            self._publishers_declared = True
        spec = AsyncAPI(
            broker,
            title=f"Kauppa {self.name}",
            version="0.1.0",
            description=f"Events consumed and emitted by the {self.name} service "
            "(CloudEvents 1.0, Kafka binary content mode).",
            schema_version="3.0.0",
        )
        doc: dict[str, Any] = spec.to_specification().to_jsonable()
        return doc

    async def process(self, records: list[RawRecord]) -> BatchOutcome:
        """Decode, commit and publish one batch (what the consumer does, in one call)."""
        return await self.process_decoded(await self.pipeline.decode(records))

    async def process_decoded(self, decoded: DecodedBatch) -> BatchOutcome:
        outcome = await self.pipeline.process_decoded(decoded)
        await self.after_batch(outcome)
        return outcome

    async def after_batch(self, outcome: BatchOutcome) -> None:
        """Called after each consumed batch committed; services may override."""

    async def start(self) -> None:
        await self._retry_start("mongodb", self._start_database)
        await self._retry_start("kafka producer", self.producer.start)
        await self._retry_start("dead-letter topic", self._ensure_dead_letter_topic)
        if self.consumer is not None:
            await self._retry_start("kafka consumer", self.consumer.start)
        self._stop.clear()
        self._tune_gc()
        self.committer.start_background_publishing()
        if self._run_relay:
            self._spawn(
                self.publisher.run_relay(self.settings.outbox_relay_interval_seconds, self._stop),
                "outbox relay",
            )
        if self._run_timers and self.timer_handlers:
            self._spawn(self.timers.run(self._stop), "timers")
        self.started = True
        log.info("service_started", consumer_group=self.settings.consumer_group)

    @staticmethod
    def _tune_gc() -> None:
        """Batches allocate many short-lived objects; with CPython's default thresholds
        the cyclic GC runs constantly (measured: ~30 % of a batch's CPU). Objects alive
        after start-up are frozen out of collection and young collections run rarer
        (every 200,000 net allocations: the kit bench's CPU per event fell by a further
        ~12 % against 50,000; a young collection stays in the low milliseconds)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(200_000, 50, 50)

    async def _ensure_dead_letter_topic(self) -> None:
        await create_topics(
            self.settings.kafka.bootstrap_servers,
            [dead_letter_topic(self.name)],
            **kafka_security(self.settings.kafka),
        )

    async def _start_database(self) -> None:
        await ping(self.client)
        await ensure_indexes(self.db, KIT_INDEXES + self.indexes)
        for migrate in self.migrations:  # idempotent: each runs at every start
            await migrate(self.db)

    async def _retry_start(self, what: str, start: Any) -> None:
        delay = 0.2
        for attempt in range(30):
            try:
                await start()
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == 29:
                    raise
                log.warning("waiting_for_dependency", dependency=what, error=str(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}: {name}")

        def crashed(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("background_task_crashed", task=name, error=repr(t.exception()))

        task.add_done_callback(crashed)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Graceful: the consumer finishes and commits its batch, then all closes."""
        self._stop.set()
        if self.consumer is not None:
            # First stop taking batches; the batch in hand commits with its offsets.
            with contextlib.suppress(Exception):
                await self.consumer.stop()
        self.timers.wake()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        await self.committer.stop_background_publishing()
        await self.publisher.drain()
        with contextlib.suppress(Exception):
            await self.producer.stop()
        await self.client.close()
        self.started = False
        log.info("service_stopped")

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(self.client), 2.0)
            checks["mongodb"] = "ok"
        except Exception as exc:
            checks["mongodb"] = f"unavailable: {type(exc).__name__}"
        try:
            await self.producer.check(2.0)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"unavailable: {type(exc).__name__}"
        if self.consumer is not None:
            checks["consumer"] = "ok" if self.consumer.running else "stopped"
        return checks

    async def refresh_gauges(self) -> None:
        m, s = self.metrics, self.name
        with contextlib.suppress(Exception):
            m.outbox_backlog.labels(s).set(await self.publisher.backlog())
            m.timers_due.labels(s).set(await self.timers.due_count(self.clock.now()))
        if self.consumer is not None:
            for (topic, partition), lag in self.consumer.lag().items():
                m.consumer_lag.labels(s, topic, str(partition)).set(lag)
