"""The event catalogue: every event type, looked up by CloudEvents type."""

from __future__ import annotations

from kauppa.contracts.base import Event
from kauppa.contracts.events import confirmations, customers, deals, leads, privacy, webhooks

_MODULES = (leads, deals, confirmations, customers, privacy, webhooks)


def all_event_classes() -> list[type[Event]]:
    return sorted(Event.registry.values(), key=lambda c: (c.topic, c.type_name, c.event_version))


def event_class(ce_type: str) -> type[Event] | None:
    return Event.registry.get(ce_type)


def event_class_by_name(type_name: str, version: int | None = None) -> type[Event] | None:
    """Look up by business name; without a version, the newest."""
    found = [c for c in Event.registry.values() if c.type_name == type_name]
    if version is not None:
        found = [c for c in found if c.event_version == version]
    return max(found, key=lambda c: c.event_version) if found else None
