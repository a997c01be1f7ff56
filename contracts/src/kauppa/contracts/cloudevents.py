"""CloudEvents 1.0 mapping, Kafka binary content mode and HTTP structured mode.

The one place that turns an event into bytes and headers and back. Every service uses
it for both directions, so a header name is spelled once.

Binary mode: the Kafka value is the event's JSON; the attributes travel as headers
``ce_specversion``, ``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``, ``ce_subject``,
``content-type``, plus the extensions ``ce_correlationid``, ``ce_causationid`` and the
W3C ``traceparent``.
"""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from kauppa.contracts.base import Event
from kauppa.contracts.catalogue import event_class
from pydantic import ValidationError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
_NAMESPACE = uuid.UUID("6f1d3c1e-3c55-4a5e-9b3f-7d3f0c9a4b21")

Headers = list[tuple[str, bytes]]


class DecodeError(Exception):
    """The record cannot become an event. ``kind`` names why, for the dead-letter reason."""

    kind = "undecodable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownEventType(DecodeError):
    kind = "unknown_type"


class SchemaInvalid(DecodeError):
    kind = "schema_invalid"


EventT = TypeVar("EventT", bound=Event)


@dataclass(slots=True)
class Envelope(Generic[EventT]):
    """An event with its CloudEvents attributes. ``Envelope[DealClosed]`` types the event
    for handlers of one type; a bare ``Envelope`` holds any event.

    Treat it as immutable (its event is). It is not a frozen dataclass only because
    one of those costs three times as much to make, and every event passing through a
    service makes two."""

    event: EventT
    id: str
    source: str
    time: datetime
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    extra_headers: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def type(self) -> str:
        return self.event._ce_type or self.event.ce_type()

    @property
    def subject(self) -> str:
        return self.event.partition_key()

    @property
    def topic(self) -> str:
        return self.event.topic


_NAMESPACE_BYTES = _NAMESPACE.bytes


def derived_event_id(cause_id: str, ce_type: str, key: str, index: int = 0) -> str:
    """A deterministic id for an event caused by another: re-processing the cause after a
    crash produces the same id, so consumers' inboxes drop the repeat. This is RFC 4122
    uuid5 (equal to ``uuid.uuid5``), computed without the ``UUID`` object on the hot path."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + f"{cause_id}|{ce_type}|{key}|{index}".encode()).digest()[
            :16
        ]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _span_id() -> str:
    # W3C trace and span ids need uniqueness, not secrecy: the fast PRNG will do (and
    # saves a system call per event on the hot path).
    return f"{random.getrandbits(64):016x}"


def new_traceparent() -> str:
    return f"00-{random.getrandbits(128):032x}-{_span_id()}-01"


def child_traceparent(parent: str | None) -> str:
    """Same trace, new span: the outgoing event continues the incoming event's trace."""
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return f"{parts[0]}-{parts[1]}-{_span_id()}-{parts[3]}"
    return new_traceparent()


def envelope(
    event: Event,
    *,
    source: str,
    cause: Envelope | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """Wrap an event. With a ``cause``, correlation and trace carry over and causation
    points at the cause."""
    eid = event_id or str(uuid.uuid4())
    if time is None:
        time = datetime.now(UTC)
    elif time.tzinfo is not UTC:
        time = time.astimezone(UTC)
    return Envelope(
        event=event,
        id=eid,
        source=source,
        time=time,
        correlation_id=correlation_id or (cause.correlation_id if cause else eid),
        causation_id=cause.id if cause else None,
        traceparent=child_traceparent(cause.traceparent if cause else None),
    )


@functools.lru_cache(maxsize=256)
def _iso(ts: datetime) -> str:
    # Cached: every event of a batch carries the batch's one timestamp.
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_body(event: Event) -> bytes:
    return event.model_dump_json().encode()


_SPECVERSION_BYTES = SPECVERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()


def _headers(env: Envelope, subject: bytes) -> Headers:
    headers: Headers = [
        ("ce_specversion", _SPECVERSION_BYTES),
        ("ce_id", env.id.encode()),
        ("ce_type", env.type.encode()),
        ("ce_source", env.source.encode()),
        ("ce_time", _iso(env.time).encode()),
        ("ce_subject", subject),
        ("content-type", _CONTENT_TYPE_BYTES),
        ("ce_correlationid", env.correlation_id.encode()),
    ]
    if env.causation_id:
        headers.append(("ce_causationid", env.causation_id.encode()))
    if env.traceparent:
        headers.append(("traceparent", env.traceparent.encode()))
    headers.extend(env.extra_headers)
    return headers


def to_kafka(env: Envelope) -> tuple[str, bytes, bytes, Headers]:
    """(topic, key, value, headers) for a producer."""
    key = env.subject.encode()
    return env.topic, key, encode_body(env.event), _headers(env, key)


def header_map(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers or ():
        if value is None:
            continue
        try:
            out[name] = value.decode()
        except UnicodeDecodeError:
            out[name] = value.decode("latin-1")
    return out


def _parse_time(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    ts = datetime.fromisoformat(text)  # RFC 3339, "Z" included (Python >= 3.11)
    if ts.tzinfo is UTC:
        return ts
    if ts.tzinfo is None:
        raise DecodeError(f"ce_time {text!r} has no timezone")
    return ts.astimezone(UTC)


def _build(attrs: Mapping[str, Any], data: Any, *, raw_json: bytes | None = None) -> Envelope:
    ce_type = attrs.get("type")
    if not ce_type:
        raise DecodeError("no CloudEvents type (ce_type header missing)")
    if str(attrs.get("specversion", SPECVERSION)) != SPECVERSION:
        raise DecodeError(f"unsupported CloudEvents specversion {attrs.get('specversion')!r}")
    cls = event_class(str(ce_type))
    if cls is None:
        raise UnknownEventType(f"unknown event type {ce_type!r}")
    event_id = attrs.get("id")
    if not event_id:
        raise DecodeError("no CloudEvents id (ce_id header missing)")
    try:
        # Binary mode hands the raw JSON to pydantic's own (Rust) parser: one pass.
        event = (
            cls.model_validate_json(raw_json) if raw_json is not None else cls.model_validate(data)
        )
    except ValidationError as exc:
        if raw_json is not None and any(e["type"] == "json_invalid" for e in exc.errors()):
            raise DecodeError(f"body is not JSON: {exc.errors()[0]['msg']}") from exc
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise SchemaInvalid(f"{ce_type}: {problems}") from exc
    try:
        time = _parse_time(attrs.get("time"))
    except (TypeError, ValueError) as exc:  # TypeError: not a string (structured mode)
        raise DecodeError(f"bad ce_time: {exc}") from exc
    return Envelope(
        event=event,
        id=str(event_id),
        source=str(attrs.get("source") or "unknown"),
        time=time,
        correlation_id=str(attrs.get("correlationid") or event_id),
        causation_id=attrs.get("causationid"),
        traceparent=attrs.get("traceparent"),
    )


def from_kafka(headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None) -> Envelope:
    """Decode a binary-mode record; raises a ``DecodeError`` naming what is wrong."""
    if value is None:
        raise DecodeError("empty record value (tombstone)")
    attrs: dict[str, str] = {}
    wanted = _KAFKA_ATTRIBUTES
    for name, raw in headers or ():
        attr = wanted.get(name)
        if attr is None or raw is None:
            continue
        try:
            attrs[attr] = raw.decode()
        except UnicodeDecodeError:
            attrs[attr] = raw.decode("latin-1")
    return _build(attrs, None, raw_json=value)


# The headers a binary-mode record's envelope is built from, by attribute name.
_KAFKA_ATTRIBUTES = {
    f"ce_{attr}": attr
    for attr in ("specversion", "id", "type", "source", "time", "correlationid", "causationid")
} | {"traceparent": "traceparent"}


def to_structured(env: Envelope) -> dict[str, Any]:
    """CloudEvents structured-mode JSON (HTTP ``application/cloudevents+json``)."""
    doc: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": env.id,
        "type": env.type,
        "source": env.source,
        "time": _iso(env.time),
        "subject": env.subject,
        "datacontenttype": CONTENT_TYPE,
        "correlationid": env.correlation_id,
        "data": env.event.model_dump(mode="json"),
    }
    if env.causation_id:
        doc["causationid"] = env.causation_id
    if env.traceparent:
        doc["traceparent"] = env.traceparent
    return doc


def from_structured(doc: Mapping[str, Any]) -> Envelope:
    """Decode structured-mode JSON; raises a ``DecodeError`` naming what is wrong."""
    if not isinstance(doc, Mapping):
        raise DecodeError("a CloudEvent must be a JSON object")
    if "data" not in doc:
        raise DecodeError("structured CloudEvent has no data")
    return _build(doc, doc["data"])
