"""Which events a piece of code may emit, declared where it is registered.

Event handlers declare theirs at registration (``@handlers.on(LeadQualified,
emits=[LeadAssigned, ...])``), timer handlers with ``@emits(...)``, and the events a
service emits elsewhere (its HTTP commands) are the runtime's ``emits=[...]``. The
service's AsyncAPI document lists exactly these as its send operations.

So the declarations cannot drift from the code: while a declared handler runs, an event
it did not declare is refused by ``UnitOfWork.emit`` when strict checking is on (the
test suite turns it on, ``KAUPPA_STRICT_EMITS=1``: a test running the handler fails);
outside handlers, a service's events must be among everything the service declared.
With strict checking off (production), an undeclared event is logged once per type and
goes out: a documentation gap must not dead-letter business events.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from kauppa.contracts import Event
from kauppa.servicekit.logging import get_logger

log = get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
Emits = frozenset[type[Event]]

STRICT_ENV = "KAUPPA_STRICT_EMITS"
_strict = os.environ.get(STRICT_ENV, "") == "1"
_scope: ContextVar[Emits | None] = ContextVar("kauppa_declared_emits", default=None)
_warned: set[type[Event]] = set()


class UndeclaredEmit(TypeError):
    """Code emitted an event type it does not declare (see ``kauppa.servicekit.emits``)."""


def set_strict(on: bool) -> None:
    """Turn strict checking on or off for this process (and its child processes)."""
    global _strict
    _strict = on
    os.environ[STRICT_ENV] = "1" if on else "0"


def is_strict() -> bool:
    return _strict


def emits(*types: type[Event]) -> Callable[[F], F]:
    """Declare what a function (a timer handler, a command) emits; it is checked while
    the function runs (see ``guarded``)."""

    def declare(fn: F) -> F:
        return guarded(fn, types)

    return declare


def declared(fn: object) -> Emits:
    """What a function declared with ``emits`` (or ``guarded``) may emit; nothing if it
    declared nothing."""
    found: Emits = getattr(fn, "__kauppa_emits__", frozenset())
    return found


def guarded(fn: F, types: Iterable[type[Event]]) -> F:
    """``fn`` (an async function) running in the scope of its declared events."""
    allowed: Emits = frozenset(types)
    if getattr(fn, "__kauppa_emits__", None) == allowed:
        return fn

    @wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        token = _scope.set(allowed)
        try:
            return await fn(*args, **kwargs)
        finally:
            _scope.reset(token)

    run.__kauppa_emits__ = allowed  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


@contextlib.contextmanager
def scope(types: Iterable[type[Event]]) -> Iterator[None]:
    """Code in this block may emit only these types."""
    token = _scope.set(frozenset(types))
    try:
        yield
    finally:
        _scope.reset(token)


def check(event: Event, fallback: Emits | None) -> None:
    """Called for every emitted event: inside a declared scope, the scope's types; else
    ``fallback`` (everything the service declared; None: not checked)."""
    allowed = _scope.get()
    if allowed is None:
        allowed = fallback
    if allowed is None or type(event) in allowed:
        return
    cls = type(event)
    message = (
        f"{cls.type_name} v{cls.event_version} is emitted but not declared "
        f"(declared here: {sorted(c.type_name for c in allowed) or 'nothing'}); add it to "
        "the handler's emits=[...] where it is registered"
    )
    if _strict:
        raise UndeclaredEmit(message)
    if cls not in _warned:
        _warned.add(cls)
        log.warning("undeclared_event_emitted", event_type=cls.type_name, detail=message)
