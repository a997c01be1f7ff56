"""Collections bound to one unit of work's transaction.

A service's repository module reads and writes its aggregates through
``uow.collection(name)``: every call runs in the unit of work's session, so no write can
land outside the transaction because a ``session=`` argument was forgotten. Handlers and
commands then never see a session at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

Document = dict[str, Any]
Filter = Mapping[str, Any]


class BoundCollection:
    """The operations repositories use, each run in ``session`` (None: outside any
    transaction, for an HTTP query's reads, so a repository's read methods serve both)."""

    def __init__(
        self, collection: AsyncCollection[Document], session: AsyncClientSession | None
    ) -> None:
        self.raw = collection
        self.session = session

    @property
    def name(self) -> str:
        return self.raw.name

    def find(
        self, filter: Filter | None = None, *args: Any, **kwargs: Any
    ) -> AsyncCursor[Document]:
        return self.raw.find(filter, *args, session=self.session, **kwargs)

    async def find_one(
        self, filter: Filter | Any = None, *args: Any, **kwargs: Any
    ) -> Document | None:
        return await self.raw.find_one(filter, *args, session=self.session, **kwargs)

    async def count_documents(self, filter: Filter, **kwargs: Any) -> int:
        return await self.raw.count_documents(filter, session=self.session, **kwargs)

    async def distinct(self, key: str, filter: Filter | None = None, **kwargs: Any) -> list[Any]:
        return await self.raw.distinct(key, filter, session=self.session, **kwargs)

    async def aggregate(
        self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> AsyncCommandCursor[Document]:
        return await self.raw.aggregate(pipeline, session=self.session, **kwargs)

    async def insert_one(self, document: Document, **kwargs: Any) -> InsertOneResult:
        return await self.raw.insert_one(document, session=self.session, **kwargs)

    async def insert_many(self, documents: Sequence[Document], **kwargs: Any) -> InsertManyResult:
        return await self.raw.insert_many(documents, session=self.session, **kwargs)

    async def update_one(self, filter: Filter, update: Any, **kwargs: Any) -> UpdateResult:
        return await self.raw.update_one(filter, update, session=self.session, **kwargs)

    async def update_many(self, filter: Filter, update: Any, **kwargs: Any) -> UpdateResult:
        return await self.raw.update_many(filter, update, session=self.session, **kwargs)

    async def replace_one(self, filter: Filter, document: Document, **kwargs: Any) -> UpdateResult:
        return await self.raw.replace_one(filter, document, session=self.session, **kwargs)

    async def delete_one(self, filter: Filter, **kwargs: Any) -> DeleteResult:
        return await self.raw.delete_one(filter, session=self.session, **kwargs)

    async def delete_many(self, filter: Filter, **kwargs: Any) -> DeleteResult:
        return await self.raw.delete_many(filter, session=self.session, **kwargs)

    async def find_one_and_update(
        self, filter: Filter, update: Any, **kwargs: Any
    ) -> Document | None:
        return await self.raw.find_one_and_update(filter, update, session=self.session, **kwargs)

    async def find_one_and_delete(self, filter: Filter, **kwargs: Any) -> Document | None:
        return await self.raw.find_one_and_delete(filter, session=self.session, **kwargs)

    async def bulk_write(self, requests: Sequence[Any], **kwargs: Any) -> BulkWriteResult:
        return await self.raw.bulk_write(requests, session=self.session, **kwargs)
