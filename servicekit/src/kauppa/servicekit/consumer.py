"""Batch consumption from Kafka through FastStream, two batches in flight.

One batch subscriber per service over all the topics it handles. Records reach the
kit raw (FastStream's decoder is replaced: we decode CloudEvents ourselves, and a bad
record must be dead-lettered, not crash the decoder).

Pipelining: while batch N's transaction waits for MongoDB, batch N+1 is fetched and
decoded (pure CPU). N+1's transaction starts only after N's committed, so handlers see
state in partition order, exactly as if batches ran one by one.

Offsets: FastStream's own acknowledgement is off (``AckPolicy.MANUAL``); after a batch's
transaction committed (and its dead letters were acknowledged) the kit commits exactly
that batch's offsets, never a position fetched past it. Offset commits run in the
background, in batch order, so the next transaction does not wait for the broker's
answer; a graceful stop waits for them.

A batch that fails outside the handlers (the pipeline isolates handler errors and
retries database and broker trouble itself: what gets here is a bug, or one record that
breaks the plumbing, e.g. a dead letter that cannot be sent) is tried once more, then
split in halves, each half decoded and applied again, down to the single record that
fails; that record is dead-lettered (``pipeline_error``, ``ExceptionType: message``) and
the rest is handled. Every failure is logged with its type and counted in
``kauppa_batch_failures_total``. Only when even the dead letter cannot be written (or
the failure is transient) does the consumer rejoin the group, after a growing pause:
nothing after the batch is committed, and it is delivered again from the committed
offsets. An offset is never committed past a record neither handled nor dead-lettered.

FastStream gets a logger that passes on what it would otherwise swallow (an error in its
fetch loop, a crashed and restarted task, an exception from the subscriber) with the
exception's type; its routine lines are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import FAKE_CONSUMER, KafkaMessage
from faststream.message import StreamMessage
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import is_transient
from kauppa.servicekit.producer import kafka_security
from kauppa.servicekit.settings import KafkaSettings

log = get_logger(__name__)

Decode = Callable[[list[RawRecord]], Awaitable[Any]]
Apply = Callable[[Any], Awaitable[object]]
DeadLetter = Callable[[RawRecord, BaseException], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _DecodeFailed:
    """A batch whose decoding raised: it goes the way of a batch that failed to apply."""

    error: BaseException


class FrameworkLog:
    """FastStream's logger. FastStream catches and logs, through its own logger, what
    goes wrong in its fetch loop (``KafkaError``, a missing codec), a consume task that
    crashed and is restarted, and an exception escaping the subscriber: these are passed
    on (warning and above) with the exception's type. Its per-message lines are dropped."""

    def log(
        self,
        level: int,
        msg: Any,
        /,
        *args: Any,
        exc_info: Any = None,
        extra: Mapping[str, Any] | None = None,
        **_kw: Any,
    ) -> None:
        if level < logging.WARNING:
            return
        exc = exc_info if isinstance(exc_info, BaseException) else None
        context = {k: str(v)[:200] for k, v in (extra or {}).items() if k in ("topic", "group_id")}
        log.log(
            level,
            "faststream_error" if level >= logging.ERROR else "faststream_warning",
            message=str(msg)[:500],
            error_type=type(exc).__name__ if exc is not None else None,
            error=str(exc)[:500] if exc is not None else None,
            **context,
        )


def consumer_options(settings: KafkaSettings) -> dict[str, Any]:
    """The consumer settings, the Tansu quirks included via the profile (see settings)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "rebalance_timeout_ms": settings.rebalance_timeout_ms,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "max_poll_records": settings.max_batch_records,
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "isolation_level": "read_committed",
        **kafka_security(settings),
    }


def faststream_security(settings: KafkaSettings) -> Any:
    """Kafka security settings in FastStream's terms (None: plaintext)."""
    import ssl

    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    use_ssl = settings.security_protocol in ("SSL", "SASL_SSL")
    context = ssl.create_default_context() if use_ssl else None
    user, password = settings.sasl_username or "", settings.sasl_password or ""
    if settings.sasl_mechanism == "PLAIN":
        return SASLPlaintext(user, password, ssl_context=context)
    if settings.sasl_mechanism == "SCRAM-SHA-256":
        return SASLScram256(user, password, ssl_context=context)
    if settings.sasl_mechanism == "SCRAM-SHA-512":
        return SASLScram512(user, password, ssl_context=context)
    return BaseSecurity(ssl_context=context) if use_ssl else None


async def _batch_message(records: tuple[ConsumerRecord[Any, Any], ...]) -> StreamMessage[Any]:
    """FastStream parser: wrap the aiokafka records as they are. FastStream's own batch
    parser decodes every header of every record as UTF-8: work the kit does not need,
    and a single header that is not UTF-8 would fail the whole batch, over and over (the
    kit dead-letters what cannot be decoded, record by record). A plain ``KafkaMessage``
    cannot commit offsets: the kit commits them itself."""
    first, last = records[0], records[-1]
    return KafkaMessage(
        records,
        body=records,
        message_id=f"{first.topic}-{first.partition}-{first.offset}-{last.offset}",
        correlation_id=f"{first.topic}-{first.partition}-{first.offset}",
        consumer=FAKE_CONSUMER,
    )


async def _raw_records(msg: StreamMessage[Any]) -> Any:
    """FastStream decoder: hand over the aiokafka records untouched."""
    return msg.raw_message


class KafkaBatchConsumer:
    """The service's FastStream broker and its one batch subscriber.

    ``decode(records)`` prepares a batch without I/O; ``apply(decoded)`` commits it. The
    consumer calls ``apply`` for one batch at a time, in order, and overlaps it with the
    next batch's ``decode``."""

    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        decode: Decode,
        apply: Apply,
        client_id: str,
        *,
        description: str = "",
        dead_letter: DeadLetter | None = None,
        metrics: ServiceMetrics | None = None,
        retry_pause: float = 0.2,
    ) -> None:
        self.settings, self.group_id, self.topics = settings, group_id, list(topics)
        self.decode, self.apply, self.client_id = decode, apply, client_id
        self.dead_letter, self.metrics, self.retry_pause = dead_letter, metrics, retry_pause
        self.broker = KafkaBroker(
            settings.bootstrap_servers,
            client_id=client_id,
            enable_idempotence=settings.enable_idempotence,
            logger=FrameworkLog(),
            log_level=logging.DEBUG,
            graceful_timeout=20,
            security=faststream_security(settings),
        )
        options = consumer_options(settings)
        for key in ("bootstrap_servers", "enable_auto_commit", "security_protocol"):
            options.pop(key, None)
        for key in ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
            options.pop(key, None)
        self.subscriber = self.broker.subscriber(
            *self.topics,
            batch=True,
            max_records=settings.max_batch_records,
            batch_timeout_ms=200,
            group_id=group_id,
            ack_policy=AckPolicy.MANUAL,
            parser=_batch_message,
            decoder=_raw_records,
            title=f"{client_id}: consume",
            description=description or f"Consumes {', '.join(self.topics)}",
            **options,
        )
        self.subscriber(self._handle)
        self._positions: dict[TopicPartition, int] = {}
        self._started = False
        self._stopping = False
        self._handling = 0
        self._in_flight: asyncio.Task[bool] | None = None
        self._restarting = False
        self._restart_task: asyncio.Task[None] | None = None
        self._uncommitted: dict[TopicPartition, int] = {}
        self._offset_task: asyncio.Task[None] | None = None
        self._failed_in_a_row = 0

    async def _handle(self, records: Any) -> None:
        if self._stopping or self._restarting:
            return  # not committed: delivered again
        self._handling += 1
        try:
            batch = [RawRecord.of(r) for r in records]
            if not batch:
                return
            decoded: Any
            try:
                decoded = await self.decode(batch)
            except Exception as exc:
                decoded = _DecodeFailed(exc)
            if self._stopping or self._restarting:
                return  # not committed: delivered again
            # Chained to the batch before: its transaction starts the moment that one
            # ends, not once FastStream has come round with the next fetch.
            previous = self._in_flight
            self._in_flight = asyncio.create_task(self._apply_after(previous, decoded, batch))
            if previous is not None:
                # Back-pressure: fetch and decode the next batch while this one applies,
                # never further ahead.
                await asyncio.wait([previous])
        except Exception as exc:  # a bug in the consumer itself: nothing after this
            # batch may be committed, so rejoin from the committed offsets
            self._count_failure(exc, len(records), "consumer_failed_redelivering")
            self._restart_soon()
        finally:
            self._handling -= 1

    async def _apply_after(
        self, previous: asyncio.Task[bool] | None, decoded: Any, batch: list[RawRecord]
    ) -> bool:
        if previous is not None and not await previous:
            return False  # the batch before failed: this one comes again
        if self._stopping:
            return False  # not committed: delivered again
        return await self._apply(decoded, batch)

    async def _apply(self, decoded: Any, batch: list[RawRecord]) -> bool:
        """Commit one batch, then its offsets. Should it fail, isolate the record it
        fails on (``_recover``). False: not even that worked; the consumer restarts from
        the last committed offsets, so this batch and those behind it come again."""
        try:
            if isinstance(decoded, _DecodeFailed):
                raise decoded.error
            await self.apply(decoded)
        except Exception as exc:
            self._count_failure(exc, len(batch), "batch_failed")
            if is_transient(exc) or not await self._recover(batch):
                self._restart_soon()
                return False
        self._failed_in_a_row = 0
        ends: dict[TopicPartition, int] = {}
        last = batch[0]
        for r in batch:  # a partition's records come in order: its last sets the end
            if r.partition != last.partition or r.topic != last.topic:
                ends[TopicPartition(last.topic, last.partition)] = last.offset + 1
            last = r
        ends[TopicPartition(last.topic, last.partition)] = last.offset + 1
        self._positions.update(ends)
        self._commit_offsets_soon(ends)
        return True

    def _count_failure(self, exc: BaseException, records: int, what: str) -> None:
        # Where it was raised, not the whole traceback: a traceback's locals would carry
        # the records' personal data into the log.
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno} {frames[-1].name}" if frames else ""
        log.error(
            what,
            error_type=type(exc).__name__,
            error=str(exc)[:300],
            where=where[-200:],
            records=records,
        )
        if self.metrics is not None:
            self.metrics.batch_failures.labels(self.metrics.service, type(exc).__name__).inc()

    async def _attempt(self, records: list[RawRecord]) -> BaseException | None:
        """Decode and apply ``records`` anew; the exception if it failed."""
        try:
            await self.apply(await self.decode(records))
            return None
        except Exception as exc:
            self._count_failure(exc, len(records), "batch_part_failed")
            return exc

    async def _recover(self, batch: list[RawRecord]) -> bool:
        """The batch failed outside the handlers: try it once more, then split it in
        halves (in order, so a partition's records keep theirs) until the record it
        fails on is alone, and dead-letter that one. What went through before a failure
        stays committed; the inbox drops it when it comes again. False: a failure that
        is transient, or that stops even the dead letter, or the consumer is stopping."""
        if self.dead_letter is None or self._stopping:
            return False
        await asyncio.sleep(self.retry_pause)
        error = await self._attempt(batch)
        if error is None:
            return True
        return await self._isolate(batch, error)

    async def _isolate(self, records: list[RawRecord], error: BaseException) -> bool:
        if self._stopping or is_transient(error):
            return False
        if len(records) == 1:
            assert self.dead_letter is not None
            await asyncio.sleep(self.retry_pause)
            again = await self._attempt(records)  # alone, once more: a record is not
            if again is None:  # dead-lettered for a failure that has passed
                return True
            if is_transient(again):
                return False
            try:
                await self.dead_letter(records[0], again)
            except Exception as exc:
                self._count_failure(exc, 1, "dead_letter_failed")
                return False
            return True
        middle = len(records) // 2
        for part in (records[:middle], records[middle:]):
            part_error = await self._attempt(part)
            if part_error is not None and not await self._isolate(part, part_error):
                return False
        return True

    def _restart_soon(self) -> None:
        if not self._restarting and not self._stopping:
            self._restarting = True
            self._failed_in_a_row += 1
            pause = min(2.0 ** (self._failed_in_a_row - 1), 30.0)
            self._restart_task = asyncio.create_task(self._restart(pause))

    def _commit_offsets_soon(self, ends: dict[TopicPartition, int]) -> None:
        """Commit the batch's offsets in the background, in batch order: the next
        batch's transaction need not wait for the broker's answer. Offsets of batches
        that finish meanwhile are merged into the next commit."""
        for tp, end in ends.items():
            if end > self._uncommitted.get(tp, -1):
                self._uncommitted[tp] = end
        if self._offset_task is None or self._offset_task.done():
            self._offset_task = asyncio.create_task(self._commit_offsets())

    async def _commit_offsets(self) -> None:
        while self._uncommitted:
            ends, self._uncommitted = self._uncommitted, {}
            consumer = self._consumer
            if consumer is None:
                return
            try:
                await consumer.commit(ends)
            except Exception as exc:  # e.g. a rebalance took the partition: the new
                # owner starts at the last commit and its inbox drops what we did
                log.warning("offset_commit_failed", error=str(exc)[:300])

    async def _flush_offsets(self) -> None:
        if self._offset_task is not None:
            await asyncio.gather(self._offset_task, return_exceptions=True)
            self._offset_task = None

    async def _restart(self, pause: float = 1.0) -> None:
        """Leave the group and join again: every fetched-ahead record is dropped and
        consumption resumes at the committed offsets."""
        await asyncio.sleep(pause)
        try:
            await self._flush_offsets()  # what succeeded before the failure
            with contextlib.suppress(Exception):
                await self.broker.stop()
            self._in_flight = None
            if self._started:
                await self.broker.start()
        finally:
            self._restarting = False
            log.info("consumer_restarted_after_failure")

    @property
    def _consumer(self) -> AIOKafkaConsumer | None:
        consumer: AIOKafkaConsumer | None = getattr(self.subscriber, "consumer", None)
        return consumer

    async def start(self) -> None:
        self._stopping = False
        await self.broker.start()
        self._started = True

    @property
    def running(self) -> bool:
        """The subscriber has a live Kafka consumer (FastStream runs its fetch loop)."""
        return self._started and self._consumer is not None

    async def stop(self, timeout: float = 30.0) -> None:
        """Graceful: no new batch starts; the one in flight commits with its offsets;
        then the consumer leaves the group."""
        if not self._started:
            return
        self._started, self._stopping = False, True
        if self._restart_task is not None and not self._restart_task.done():
            self._restart_task.cancel()
            await asyncio.gather(self._restart_task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._handling or self._in_flight is not None) and loop.time() < deadline:
            if self._in_flight is not None and not self._handling:
                task, self._in_flight = self._in_flight, None
                await asyncio.gather(task, return_exceptions=True)
            else:
                await asyncio.sleep(0.01)
        await self._flush_offsets()
        with contextlib.suppress(Exception):
            await self.broker.stop()

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the end of each assigned partition."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            done = self._positions.get(tp)
            if end is not None and done is not None:
                out[(tp.topic, tp.partition)] = max(end - done, 0)
        return out
