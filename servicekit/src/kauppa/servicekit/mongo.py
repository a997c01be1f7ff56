"""MongoDB through PyMongo's async API: one database per service, indexes at start-up,
transactions with the driver's retry rules, and the line between transient and fatal."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.repository import Document
from kauppa.servicekit.settings import MongoSettings
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

T = TypeVar("T")
log = get_logger(__name__)


def connect(settings: MongoSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.uri,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        tz_aware=True,
        w=settings.write_concern,
        uuidRepresentation="standard",
    )


@dataclass(frozen=True)
class Indexes:
    """The indexes one collection needs; created (idempotently) when a service starts.
    ``retired``: names of indexes an earlier version created, dropped at start-up (an
    index nobody queries still costs every write)."""

    collection: str
    models: Sequence[IndexModel] = field(default_factory=tuple)
    retired: Sequence[str] = ()


async def ensure_indexes(db: AsyncDatabase[Document], specs: Sequence[Indexes]) -> None:
    for spec in specs:
        collection = db[spec.collection]
        if spec.retired:
            existing = {ix["name"] async for ix in await collection.list_indexes()}
            for name in spec.retired:
                if name in existing:
                    await collection.drop_index(name)
                    log.info("index_retired", collection=spec.collection, index=name)
        if spec.models:
            await collection.create_indexes(list(spec.models))


def is_transient(exc: BaseException) -> bool:
    """Infrastructure hiccups: retry with backoff, never dead-letter."""
    if isinstance(
        exc,
        ConnectionFailure
        | ServerSelectionTimeoutError
        | NetworkTimeout
        | AutoReconnect
        | NotPrimaryError
        | WaitQueueTimeoutError
        | KafkaConnectionError
        | KafkaTimeoutError
        | NodeNotReadyError
        | ConnectionError
        | TimeoutError,
    ):
        return True
    if isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError")
        or exc.has_error_label("UnknownTransactionCommitResult")
        or exc.has_error_label("RetryableWriteError")
    ):
        return True
    return False


def equals_ignoring_case(value: str) -> Document:
    """A query condition: the field equals ``value`` exactly, letters in any case and
    surrounding spaces of ``value`` ignored (for addresses stored as typed, asked for as
    someone else typed them)."""
    return {"$regex": f"^{re.escape(value.strip())}$", "$options": "i"}


async def in_transaction(
    client: AsyncMongoClient[Document], body: Callable[[AsyncClientSession], Awaitable[T]]
) -> T:
    """Run ``body`` in one majority-committed transaction. The driver re-runs ``body`` on
    transient transaction errors, so ``body`` must build its state afresh each time."""
    async with client.start_session() as session:
        return await session.with_transaction(
            body,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
        )


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")
