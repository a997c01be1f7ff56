"""Kauppa's shared service kit: what a service is built from.

Import from here (``from kauppa.servicekit import UnitOfWork, On, ServiceRuntime``); the
names resolve on first use, so importing the package costs nothing. The modules stay
the documentation of each part:

- ``runtime``: the consumer, pipeline, timers, outbox relay and workers of one service;
- ``routes``: the service's handler table (``On``, ``Every``);
- ``unit_of_work`` / ``repository``: one transaction's state, events and timers;
- ``refusals``: a business rule's "no", answered with a status at the HTTP edge;
- ``http`` / ``auth`` / ``openapi``: the service's FastAPI app, tokens, documents;
- ``settings``, ``clock``, ``logging``, ``metrics``, ``mail``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ServiceRuntime": "runtime",
    "Worker": "runtime",
    "On": "routes",
    "Every": "routes",
    "handlers_from": "routes",
    "timers_from": "routes",
    "Handlers": "pipeline",
    "UnitOfWork": "unit_of_work",
    "TimerRequest": "unit_of_work",
    "BoundCollection": "repository",
    "Document": "repository",
    "Effects": "unit_of_work",
    "DueTimer": "timers",
    "Refusal": "refusals",
    "Invalid": "refusals",
    "NotFound": "refusals",
    "Conflict": "refusals",
    "Forbidden": "refusals",
    "create_app": "http",
    "api_router": "openapi",
    "Principal": "auth",
    "require": "auth",
    "ServiceSettings": "settings",
    "Clock": "clock",
    "get_logger": "logging",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kauppa.servicekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kauppa.servicekit.{module}"), name)
    globals()[name] = value
    return value
