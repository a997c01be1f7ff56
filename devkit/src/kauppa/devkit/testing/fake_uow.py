"""A unit of work without a database, for handler and command tests that run in
milliseconds: the service's in-memory repositories stand in for its MongoDB ones, and
what the code emits and schedules is kept for the test to read (``uow.events``,
``uow.timers``). The real-infrastructure tests of the same code stay beside these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from kauppa.contracts import Event
from kauppa.servicekit.repository import BoundCollection
from kauppa.servicekit.unit_of_work import UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    """``FakeUnitOfWork(now, {Leads: InMemoryLeads()})``: ``uow.repository(Leads)`` is
    the in-memory one. Reading a collection directly is a test error."""

    def __init__(
        self,
        now: datetime,
        repositories: dict[type[Any], Any] | None = None,
        *,
        source: str = "test",
        cause_id: str | None = None,
        declared: frozenset[type[Event]] | None = None,
    ) -> None:
        super().__init__(
            db=cast(Any, None),
            session=cast(Any, None),
            now=now,
            source=source,
            cause_id=cause_id,
            declared=declared,
        )
        self._repositories.update(repositories or {})

    def repository(self, kind: type[Any]) -> Any:
        try:
            return self._repositories[kind]
        except KeyError:
            raise AssertionError(f"no in-memory {kind.__name__} given to FakeUnitOfWork") from None

    def collection(self, name: str) -> BoundCollection:
        raise AssertionError(
            f"code under a FakeUnitOfWork reads {name!r} directly, not through a repository"
        )

    async def flush(self) -> None:
        """Nothing to write: the test reads ``events`` and ``timers``."""
