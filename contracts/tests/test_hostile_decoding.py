"""Decoding never raises anything but a ``DecodeError`` naming the exception, whatever the
record holds (issue 17): a timestamp that overflows when normalised to UTC used to
escape as an ``OverflowError`` and take the whole batch with it."""

from __future__ import annotations

import json

import pytest
from kauppa.contracts import (
    DecodeError,
    envelope,
    examples,
    from_kafka,
    from_structured,
    to_kafka,
    to_structured,
)

OVERFLOWING = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("stamp", OVERFLOWING)
def test_ce_time_that_overflows_is_a_decode_error(stamp: str) -> None:
    _t, _k, value, headers = to_kafka(envelope(examples.lead_qualified(), source="t"))
    headers = [(k, stamp.encode() if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(DecodeError, match="OverflowError"):
        from_kafka(headers, value)
    doc = to_structured(envelope(examples.lead_qualified(), source="t")) | {"time": stamp}
    with pytest.raises(DecodeError, match="OverflowError"):
        from_structured(doc)


@pytest.mark.parametrize("stamp", OVERFLOWING)
def test_body_timestamp_that_overflows_is_a_decode_error(stamp: str) -> None:
    env = envelope(examples.lead_qualified(), source="t")
    _t, _k, value, headers = to_kafka(env)
    body = json.loads(value) | {"qualified_at": stamp}
    with pytest.raises(DecodeError, match="OverflowError"):
        from_kafka(headers, json.dumps(body).encode())
    doc = to_structured(env)
    doc["data"] = body
    with pytest.raises(DecodeError, match="OverflowError"):
        from_structured(doc)


@pytest.mark.parametrize(
    "value",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe"],
)
def test_hostile_bodies_are_decode_errors(value: bytes) -> None:
    _t, _k, _v, headers = to_kafka(envelope(examples.lead_qualified(), source="t"))
    with pytest.raises(DecodeError):
        from_kafka(headers, value)


def _good() -> tuple[bytes, list[tuple[str, bytes]]]:
    _t, _k, value, headers = to_kafka(envelope(examples.lead_qualified(), source="t"))
    return value, headers


@pytest.mark.parametrize("name", ["ce_id", "ce_type", "ce_source", "ce_time"])
def test_a_cloudevents_header_that_is_not_utf8_is_a_decode_error(name: str) -> None:
    """The Kafka binding's header values are UTF-8; read as Latin-1 an id or source would
    silently become another one."""
    value, headers = _good()
    headers = [(k, b"\xff\xfe\xc3\x28" if k == name else v) for k, v in headers]
    with pytest.raises(DecodeError, match=f"{name} is not UTF-8"):
        from_kafka(headers, value)


def test_conflicting_cloudevents_headers_are_a_decode_error() -> None:
    value, headers = _good()
    with pytest.raises(DecodeError, match="conflicting ce_id"):
        from_kafka([*headers, ("ce_id", b"another-id")], value)
    # The same value twice says nothing new: the event is fine.
    ce_id = dict(headers)["ce_id"]
    assert from_kafka([*headers, ("ce_id", ce_id)], value).id == ce_id.decode()


@pytest.mark.parametrize("ctype", [b"application/xml", b"text/plain", b"application/avro"])
def test_data_that_is_declared_not_json_is_a_decode_error(ctype: bytes) -> None:
    value, headers = _good()
    headers = [(k, ctype if k == "content-type" else v) for k, v in headers]
    with pytest.raises(DecodeError, match="is not JSON"):
        from_kafka(headers, value)


@pytest.mark.parametrize(
    "ctype", [b"application/json", b"application/json; charset=utf-8", b"application/vnd.x+json"]
)
def test_json_content_types_are_taken(ctype: bytes) -> None:
    value, headers = _good()
    headers = [(k, ctype if k == "content-type" else v) for k, v in headers]
    assert from_kafka(headers, value).event.type_name == "LeadQualified"


def test_a_body_nested_too_deep_is_a_decode_error_even_in_an_unknown_field() -> None:
    value, headers = _good()
    deep = b'{"x": ' + b"[" * 40 + b"]" * 40 + b", " + value[1:]
    with pytest.raises(DecodeError, match="nested deeper than 32"):
        from_kafka(headers, deep)
    # Brackets inside strings are text, not nesting.
    body = json.loads(value) | {"notes": "[" * 100 + "{" * 100}
    assert from_kafka(headers, json.dumps(body).encode()).event.type_name == "LeadQualified"


def test_json_depth_is_measured_exactly() -> None:
    from kauppa.contracts.bounds import json_too_deep

    assert not json_too_deep(b"[" * 32 + b"]" * 32)
    assert json_too_deep(b"[" * 33 + b"]" * 33)
    assert not json_too_deep(b'{"a": "\\"[[[[", "b": [1, [2, [3]]]}', limit=4)
    assert json_too_deep(b'{"a": [1, [2, [3]]]}', limit=3)
