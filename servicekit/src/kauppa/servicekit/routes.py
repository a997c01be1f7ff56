"""One table per service: which module-level function handles which event or timer.

Every service registers its handlers the same way::

    # handlers.py
    async def hand_off_leads(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None: ...
    async def remind(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None: ...

    EVENTS = [
        On(LeadQualified, hand_off_leads, emits=[LeadAssigned, LeadQueued], prepare=plan_leads),
        On(LeadVerdictSubmitted, record_verdict, emits=[LeadAccepted, LeadReturned]),
    ]
    TIMERS = [Every(SLA_REMINDER, remind, emits=[HandoffReminderDue])]

    # bootstrap.py
    ServiceRuntime(settings, handlers_from(EVENTS, deps), timer_handlers=timers_from(TIMERS, deps))

``deps`` is the service's own frozen dataclass of what handlers need beyond the unit of
work (settings, policies); handlers stay plain functions a test can call with a
``FakeUnitOfWork``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kauppa.contracts import Envelope, Event
from kauppa.servicekit.emits import guarded
from kauppa.servicekit.pipeline import Handlers, Prepare, per_event
from kauppa.servicekit.timers import DueTimer, TimerHandler
from kauppa.servicekit.unit_of_work import Preparation, UnitOfWork

BatchFn = Callable[[list[Envelope], UnitOfWork, Any], Awaitable[None]]
EventFn = Callable[[Envelope, UnitOfWork, Any], Awaitable[None]]
TimerFn = Callable[[list[DueTimer], UnitOfWork, Any], Awaitable[None]]
PrepareFn = Callable[[Envelope, Preparation, Any], Any]


@dataclass(frozen=True)
class On:
    """``handler(batch, uow, deps)`` takes events of ``event`` (with ``one=True``:
    ``handler(env, uow, deps)``, one event at a time). ``prepare(env, preparation,
    deps)``: its pure step ahead of the transaction, with the same deps."""

    event: type[Event]
    handler: BatchFn | EventFn
    emits: Sequence[type[Event]] = ()
    prepare: PrepareFn | None = None
    one: bool = False


@dataclass(frozen=True)
class Every:
    """``handler(timers, uow, deps)`` fires the due timers of ``kind``."""

    kind: str
    handler: TimerFn
    emits: Sequence[type[Event]] = field(default_factory=tuple)


def _bind(fn: Callable[..., Awaitable[None]], deps: Any) -> Callable[..., Awaitable[None]]:
    async def bound(first: Any, uow: UnitOfWork) -> None:
        await fn(first, uow, deps)

    bound.__name__ = getattr(fn, "__name__", "handler")
    bound.__qualname__ = getattr(fn, "__qualname__", bound.__name__)
    bound.__doc__ = fn.__doc__
    return bound


def handlers_from(table: Iterable[On], deps: Any) -> Handlers:
    """The kit's ``Handlers`` for a service's table. A function listed for several event
    types with the same declaration stays one handler (consecutive events of those types
    still run together in one call)."""
    handlers = Handlers()
    bound: dict[tuple[Any, bool], Any] = {}
    for route in table:
        key = (route.handler, route.one)
        if key not in bound:
            fn = _bind(route.handler, deps)
            bound[key] = per_event(fn) if route.one else fn
        prepare = _bind_prepare(route.prepare, deps) if route.prepare else None
        handlers.add(route.event, bound[key], prepare, emits=route.emits)
    return handlers


def _bind_prepare(fn: PrepareFn, deps: Any) -> Prepare:
    def bound(env: Envelope, prep: Preparation) -> Any:
        return fn(env, prep, deps)

    bound.__name__ = getattr(fn, "__name__", "prepare")
    return bound


def timers_from(table: Iterable[Every], deps: Any) -> dict[str, TimerHandler]:
    """The kit's timer handlers for a service's table, each in the scope of its emits."""
    return {t.kind: guarded(_bind(t.handler, deps), t.emits) for t in table}
