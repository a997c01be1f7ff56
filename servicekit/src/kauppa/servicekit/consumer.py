"""Batch consumption from Kafka through FastStream.

One batch subscriber per service over all the topics it handles. Records reach the
pipeline raw (FastStream's decoder is replaced: we decode CloudEvents ourselves, and a
bad record must be dead-lettered, not crash the decoder). Auto-commit is off
(``AckPolicy.NACK_ON_ERROR``): offsets are committed only after the pipeline returned,
i.e. after the batch's transaction committed and its dead letters were acknowledged.
Should the pipeline raise (it retries database/broker trouble itself, so only a bug
gets here), FastStream seeks back and the batch is delivered again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.producer import kafka_security
from kauppa.servicekit.settings import KafkaSettings

log = get_logger(__name__)

BatchSink = Callable[[list[RawRecord]], Awaitable[object]]


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


async def _raw_records(msg: StreamMessage[Any]) -> Any:
    """FastStream decoder: hand over the aiokafka records untouched."""
    return msg.raw_message


class KafkaBatchConsumer:
    """The service's FastStream broker and its one batch subscriber."""

    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        sink: BatchSink,
        client_id: str,
        *,
        description: str = "",
    ) -> None:
        self.settings, self.group_id, self.topics = settings, group_id, list(topics)
        self.sink, self.client_id = sink, client_id
        self.broker = KafkaBroker(
            settings.bootstrap_servers,
            client_id=client_id,
            enable_idempotence=settings.enable_idempotence,
            logger=None,
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
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_records,
            title=f"{client_id}: consume",
            description=description or f"Consumes {', '.join(self.topics)}",
            **options,
        )
        self.subscriber(self._handle)
        self._positions: dict[TopicPartition, int] = {}
        self._started = False

    async def _handle(self, records: Any) -> None:
        batch = [RawRecord.of(r) for r in records]
        if not batch:
            return
        await self.sink(batch)
        for r in batch:  # committed by FastStream right after this returns
            self._positions[TopicPartition(r.topic, r.partition)] = r.offset + 1

    @property
    def _consumer(self) -> AIOKafkaConsumer | None:
        consumer: AIOKafkaConsumer | None = getattr(self.subscriber, "consumer", None)
        return consumer

    async def start(self) -> None:
        await self.broker.start()
        self._started = True

    @property
    def running(self) -> bool:
        """The subscriber has a live Kafka consumer (FastStream runs its fetch loop)."""
        return self._started and self._consumer is not None

    async def stop(self) -> None:
        """Graceful: FastStream waits for the batch in hand (and its commit)."""
        if self._started:
            self._started = False
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
