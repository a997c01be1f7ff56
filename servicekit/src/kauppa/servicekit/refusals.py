"""Refusals: a business rule says no. Pure (no HTTP, no I/O), raised by aggregates and
commands. The HTTP edge (``servicekit.http``) answers them with a status: ``Invalid``
422, ``NotFound`` 404, ``Conflict`` 409, ``Forbidden`` 403, the body being ``detail``
and the refusal's fields (``missing``, ``reason``, ...). An event handler that meets one
records or dead-letters it as its rules say."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.fields}


class Invalid(Refusal):
    """The request breaks a rule (a close with items missing, a verdict out of turn)."""


class NotFound(Refusal):
    """No such thing in the caller's scope."""


class Conflict(Refusal):
    """The thing's state says no (already closed, a stale version)."""


class Forbidden(Refusal):
    """The caller may not do this to this thing (not their lead)."""
