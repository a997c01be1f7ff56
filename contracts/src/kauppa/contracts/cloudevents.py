"""CloudEvents 1.0 mapping: Kafka binary content mode, and every HTTP content mode
(binary, structured, batched; ``from_http``).

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
import json
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from kauppa.contracts.base import Event
from kauppa.contracts.bounds import MAX_JSON_DEPTH, json_too_deep
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
    except Exception as exc:  # a validator raising past pydantic (OverflowError, ...)
        raise SchemaInvalid(f"{ce_type}: {_named(exc)}") from exc
    try:
        time = _parse_time(attrs.get("time"))
    except DecodeError:
        raise
    except Exception as exc:  # ValueError, OverflowError (out of range once in UTC), ...
        raise DecodeError(f"bad ce_time: {_named(exc)}") from exc
    return Envelope(
        event=event,
        id=str(event_id),
        source=str(attrs.get("source") or "unknown"),
        time=time,
        correlation_id=str(attrs.get("correlationid") or event_id),
        causation_id=attrs.get("causationid"),
        traceparent=attrs.get("traceparent"),
    )


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def from_kafka(headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None) -> Envelope:
    """Decode a binary-mode record; raises a ``DecodeError`` naming what is wrong, and
    nothing else, whatever the record holds."""
    try:
        return _from_kafka(headers, value)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(_named(exc)) from exc


def _from_kafka(
    headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None
) -> Envelope:
    if value is None:
        raise DecodeError("empty record value (tombstone)")
    attrs: dict[str, str] = {}
    wanted = _KAFKA_ATTRIBUTES
    for name, raw in headers or ():
        attr = wanted.get(name)
        if attr is None or raw is None:
            continue
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:  # the Kafka binding: header values are UTF-8
            raise DecodeError(f"header {name} is not UTF-8") from exc
        if attrs.setdefault(attr, text) != text:
            # Two different values for one attribute: which one is the event? Neither.
            raise DecodeError(f"conflicting {name} headers")
    if json_too_deep(value):
        raise DecodeError(f"body nested deeper than {MAX_JSON_DEPTH} objects and arrays")
    content_type = attrs.pop("datacontenttype", None)
    if content_type is not None and not _is_json(_media_type(content_type)):
        raise DecodeError(f"content-type {content_type[:100]!r} is not JSON")
    return _build(attrs, None, raw_json=value)


# The headers a binary-mode record's envelope is built from, by attribute name.
_KAFKA_ATTRIBUTES = {
    f"ce_{attr}": attr
    for attr in ("specversion", "id", "type", "source", "time", "correlationid", "causationid")
} | {"traceparent": "traceparent", "content-type": "datacontenttype"}


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
    """Decode structured-mode JSON; raises a ``DecodeError`` naming what is wrong, and
    nothing else."""
    if not isinstance(doc, Mapping):
        raise DecodeError("a CloudEvent must be a JSON object")
    if "data" not in doc:
        raise DecodeError("structured CloudEvent has no data")
    try:
        return _build(doc, doc["data"])
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(_named(exc)) from exc


# ------------------------------------------------------------------- HTTP content modes
#
# CloudEvents HTTP binding 1.0: binary mode (attributes as ``ce-*`` headers, the data as
# the body), structured mode (``application/cloudevents+json``: the whole event as one
# JSON object) and batched mode (``application/cloudevents-batch+json``: a JSON array of
# structured events). ``from_http`` reads any of them into envelopes, one result per
# event, so a receiver answers each event of a batch on its own.

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

# The headers a binary-mode HTTP request's envelope is built from, by attribute name
# (HTTP header names are case-insensitive: looked up in lower case).
_HTTP_ATTRIBUTES = {
    f"ce-{attr}": attr
    for attr in (
        "specversion",
        "id",
        "type",
        "source",
        "time",
        "subject",
        "correlationid",
        "causationid",
        "traceparent",
    )
} | {"traceparent": "traceparent"}


@dataclass(slots=True)
class HttpEvents:
    """What one HTTP request carried: its content mode and, per event in order, the
    envelope or the ``DecodeError`` saying why it is no event."""

    mode: str  # "binary", "structured" or "batch"
    events: list[Envelope | DecodeError]


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json", "text/json") or media_type.endswith("+json")


def _decoded(decode: Any, *args: Any) -> Envelope | DecodeError:
    try:
        result: Envelope = decode(*args)
    except DecodeError as exc:
        return exc
    return result


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"body is not JSON: {exc}") from exc


def from_http_binary(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Decode a binary-mode request (``ce-*`` headers, the data as the body). Header
    values are percent-decoded (CloudEvents HTTP binding 3.1.3.2)."""
    attrs: dict[str, str] = {}
    for name, value in headers.items():
        attr = _HTTP_ATTRIBUTES.get(name.lower())
        if attr is not None:
            attrs[attr] = unquote(value)
    media_type = _media_type(headers.get("content-type") or headers.get("Content-Type"))
    if not _is_json(media_type):
        raise DecodeError(f"binary-mode data must be JSON, not {media_type!r}")
    if not body:
        raise DecodeError("binary-mode CloudEvent has no data (empty body)")
    return _build(attrs, None, raw_json=body)


def from_http(headers: Mapping[str, str], body: bytes) -> HttpEvents:
    """Read an HTTP request in any CloudEvents content mode. The mode comes from the
    Content-Type (structured, batch) or a ``ce-specversion`` header (binary); a JSON
    object with ``specversion`` sent as plain ``application/json`` is read as structured.
    Raises ``DecodeError`` only when the request as a whole is unreadable (a batch that
    is not a JSON array, a body that is no JSON at all)."""
    lower = {k.lower(): v for k, v in headers.items()}
    media_type = _media_type(lower.get("content-type"))
    if media_type == BATCH_CONTENT_TYPE:
        items = _json(body)
        if not isinstance(items, list):
            raise DecodeError("a CloudEvents batch must be a JSON array of events")
        return HttpEvents("batch", [_decoded(from_structured, item) for item in items])
    if media_type == STRUCTURED_CONTENT_TYPE:
        return HttpEvents("structured", [_decoded(from_structured, _json(body))])
    if "ce-specversion" in lower:
        return HttpEvents("binary", [_decoded(from_http_binary, lower, body)])
    doc = _json(body)
    if isinstance(doc, Mapping) and "specversion" in doc:
        return HttpEvents("structured", [_decoded(from_structured, doc)])
    raise DecodeError(
        "not a CloudEvent: send ce-* headers (binary mode), "
        f"{STRUCTURED_CONTENT_TYPE} or {BATCH_CONTENT_TYPE}"
    )
