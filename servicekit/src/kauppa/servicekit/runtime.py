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
from typing import Any, Protocol

from kauppa.contracts import Event
from kauppa.contracts.topics import dead_letter_topic
from kauppa.servicekit.asyncapi import asyncapi_document
from kauppa.servicekit.clock import Clock, clock_from_settings
from kauppa.servicekit.committer import Committer
from kauppa.servicekit.consumer import KafkaBatchConsumer
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.emits import declared, guarded
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import Indexes, connect, ensure_indexes, is_transient, ping
from kauppa.servicekit.outbox import OutboxPublisher
from kauppa.servicekit.pipeline import BatchOutcome, DecodedBatch, EventPipeline, Handlers
from kauppa.servicekit.producer import EventProducer, kafka_security
from kauppa.servicekit.progress import ProgressWatch
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


class Worker(Protocol):
    """A service's own background loop (an SMTP or webhook sender): it runs until
    ``stop`` is set and can be woken early when there may be work."""

    async def run(self, stop: asyncio.Event) -> None: ...

    def wake(self) -> None: ...


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
        # Timer handlers run in the scope of what they declare (``@emits``).
        self.timer_handlers = {
            kind: guarded(fn, declared(fn)) for kind, fn in (timer_handlers or {}).items()
        }
        self.indexes = tuple(indexes)
        # What HTTP commands and other code paths outside handlers and timers emit.
        self.emits = tuple(emits)
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
        self.committer.declared = self.sends
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
                dead_letter=self.pipeline.dead_letter_poison,
                metrics=self.metrics,
            )
            if consume and topics
            else None
        )
        self.progress = ProgressWatch(settings.stall_after_seconds)
        self._run_timers, self._run_relay = run_timers, run_relay
        self._stop = asyncio.Event()
        self._workers: list[tuple[str, Worker]] = []
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._on_gauges: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._exception_handler: Any = None
        self.started = False

    @property
    def sends(self) -> frozenset[type[Event]]:
        """Everything the service may send: what its handlers, timer handlers and
        commands (``emits``) declare."""
        return self.handlers.declared_emits().union(
            self.emits, *(declared(fn) for fn in self.timer_handlers.values())
        )

    def asyncapi(self) -> dict[str, Any]:
        """The service's AsyncAPI 3.0 document, generated from the code: what its handlers
        take (receive operations) and what its handlers, timer handlers and commands
        declare they emit (send operations), with channels and message schemas."""
        from kauppa.contracts import event_class

        receives = [c for t in self.handlers.by_type if (c := event_class(t)) is not None]
        return asyncapi_document(
            self.name,
            receives=receives,
            sends=self.sends,
            kafka_servers=self.settings.kafka.bootstrap_servers,
        )

    async def process(self, records: list[RawRecord]) -> BatchOutcome:
        """Decode, commit and publish one batch (what the consumer does, in one call)."""
        return await self.process_decoded(await self.pipeline.decode(records))

    async def process_decoded(self, decoded: DecodedBatch) -> BatchOutcome:
        records = len(decoded.batch) + len(decoded.dead) + decoded.ignored
        self.progress.batch_started(records)
        applied = False
        try:
            outcome = await self.pipeline.process_decoded(decoded)
            applied = True
        finally:
            self.progress.batch_ended(records, applied=applied)
        await self.after_batch(outcome)
        return outcome

    async def after_batch(self, outcome: BatchOutcome) -> None:
        """Called after each consumed batch committed; wakes the workers when the batch
        handled an event (an immediate send does not wait for the next poll). Services
        may override."""
        if outcome.handled:
            for _name, worker in self._workers:
                worker.wake()

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` at the end of ``start`` (the database, producer and consumer are
        up), e.g. arm a service's standing timers."""
        self._on_start.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` at ``stop`` after the background tasks ended, before the clients
        close; an exception is logged and the stop goes on."""
        self._on_stop.append(hook)

    def on_gauges(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` with ``refresh_gauges`` (before each ``/metrics`` scrape); an
        exception is logged."""
        self._on_gauges.append(hook)

    def add_worker(self, name: str, worker: Worker) -> None:
        """Run ``worker`` with the runtime: started after the kit's parts, woken at
        stop and given the same grace as the kit's own tasks (call before ``start``)."""
        self._workers.append((name, worker))

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
        for name, worker in self._workers:
            self._spawn(worker.run(self._stop), name)
        if self.consumer is not None:
            self.progress = ProgressWatch(self.settings.stall_after_seconds)
            self._spawn(self._watch_progress(self._stop), "progress watch")
        self._install_exception_handler()
        for hook in self._on_start:
            await hook()
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
            exc = None if t.cancelled() else t.exception()
            if exc is not None:
                log.error(
                    "background_task_crashed",
                    task=name,
                    error_type=type(exc).__name__,
                    error=str(exc),
                    exc_info=exc,
                )

        task.add_done_callback(crashed)
        self._tasks.append(task)

    def _install_exception_handler(self) -> None:
        """Exceptions asyncio would only print (a task's exception never retrieved, a
        failing callback) are logged as structured errors with their type."""
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() is not None:
            return

        def handle(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            log.error(
                "unhandled_exception",
                message=context.get("message", ""),
                error_type=type(exc).__name__ if exc is not None else None,
                error=str(exc) if exc is not None else None,
                task=repr(context.get("task") or context.get("future") or ""),
                exc_info=exc,
            )

        loop.set_exception_handler(handle)
        self._exception_handler = handle

    async def _watch_progress(self, stop: asyncio.Event) -> None:
        """Checks the consumer's progress a few times per ``stall_after_seconds``."""
        interval = min(max(self.settings.stall_after_seconds / 4, 0.05), 5.0)
        while not stop.is_set():
            try:
                await self.check_progress(alarm=True)
            except Exception as exc:
                log.warning("progress_check_failed", error_type=type(exc).__name__, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def check_progress(self, *, alarm: bool = False) -> str | None:
        """Observe the consumer's lag, update the progress gauges, and return why the
        consumer is stalled (None while it moves). ``alarm`` logs the error, once per
        ``stall_after_seconds`` while the stall lasts."""
        watch = self.progress
        lag = await self.consumer_lag()
        if lag is None:
            watch.unknown()
        else:
            watch.observe(lag)
        m, s = self.metrics, self.name
        m.consumer_last_progress.labels(s).set(watch.last_progress)
        m.consumer_stalled.labels(s).set(1 if watch.stalled else 0)
        if alarm and (reason := watch.alarm()) is not None:
            log.error(
                "consumer_stalled",
                reason=reason,
                lag=watch.lag,
                records_in_hand=watch.in_hand,
                idle_seconds=round(watch.idle_for),
                consumer_group=self.settings.consumer_group,
            )
        return watch.reason()

    async def consumer_lag(self) -> int | None:
        """Records this replica's partitions are behind (None: no partitions now). A
        partition nothing was applied from yet counts from the group's committed offset
        (or the log start), so a consumer stuck on its first batch has lag too."""
        if self.consumer is None:
            return None
        kafka = getattr(self.consumer.subscriber, "consumer", None)
        if kafka is None or not self.consumer.running:
            return None
        assigned = list(kafka.assignment())
        if not assigned:
            return None
        known = self.consumer.lag()
        total = sum(known.values())
        missing = [tp for tp in assigned if (tp.topic, tp.partition) not in known]
        if missing:
            total += await asyncio.wait_for(self._group_lag(kafka, missing), 2.0)
        return total

    async def _group_lag(self, kafka: Any, partitions: list[Any]) -> int:
        # The high watermark of the last fetch when there is one (Tansu answers a
        # ListOffsets for the end with the last record batch's base offset).
        ends = {tp: kafka.highwater(tp) for tp in partitions}
        if any(end is None for end in ends.values()):
            ends = {
                **await kafka.end_offsets(partitions),
                **{tp: end for tp, end in ends.items() if end is not None},
            }
        starts: dict[Any, int] | None = None
        total = 0
        for tp in partitions:
            done = await kafka.committed(tp)
            if done is None:
                if self.settings.kafka.auto_offset_reset == "latest":
                    continue
                if starts is None:
                    starts = await kafka.beginning_offsets(partitions)
                done = starts[tp]
            total += max(ends[tp] - done, 0)
        return total

    async def stop(self) -> None:
        """Graceful: the consumer finishes and commits its batch, then all closes."""
        self._stop.set()
        if self.consumer is not None:
            # First stop taking batches; the batch in hand commits with its offsets.
            try:
                await self.consumer.stop()
            except Exception as exc:
                _swallowed("consumer_stop_failed", exc)
        self.timers.wake()
        for _name, worker in self._workers:
            worker.wake()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                log.warning("background_task_cancelled_at_stop", task=task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        for hook in self._on_stop:
            try:
                await hook()
            except Exception as exc:
                _swallowed("stop_hook_failed", exc)
        await self.committer.stop_background_publishing()
        await self.publisher.drain()
        try:
            await self.producer.stop()
        except Exception as exc:
            _swallowed("producer_stop_failed", exc)
        await self.client.close()
        loop = asyncio.get_running_loop()
        if self._exception_handler is not None:
            if loop.get_exception_handler() is self._exception_handler:
                loop.set_exception_handler(None)
            self._exception_handler = None
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
            if not self.consumer.running:
                checks["consumer"] = "stopped"
            else:
                try:
                    checks["consumer"] = await self.check_progress() or "ok"
                except Exception as exc:  # the lag could not be read: say so, stay ready
                    checks["consumer"] = self.progress.reason() or "ok"
                    _swallowed("progress_check_failed", exc)
        return checks

    async def refresh_gauges(self) -> None:
        m, s = self.metrics, self.name
        try:
            m.outbox_backlog.labels(s).set(await self.publisher.backlog())
            m.timers_due.labels(s).set(await self.timers.due_count(self.clock.now()))
        except Exception as exc:
            _swallowed("gauge_refresh_failed", exc)
        if self.consumer is not None:
            m.consumer_last_progress.labels(s).set(self.progress.last_progress)
            m.consumer_stalled.labels(s).set(1 if self.progress.stalled else 0)
            for (topic, partition), lag in self.consumer.lag().items():
                m.consumer_lag.labels(s, topic, str(partition)).set(lag)
        for hook in self._on_gauges:
            try:
                await hook()
            except Exception as exc:
                _swallowed("gauge_refresh_failed", exc)


def _swallowed(event: str, exc: BaseException) -> None:
    """An exception the runtime goes on after: logged with its type, never silent."""
    log.warning(event, error_type=type(exc).__name__, error=str(exc))
