"""Hostile Kafka records, and the outcome each must have: a Hypothesis strategy.

Every generated record is either *good* (a valid ``LeadQualified``, perhaps with a foreign
binary header, perhaps sent twice) and must be handled exactly once, or *bad* in one named
way and must be dead-lettered with a reason. The kinds are the ways foreign producers
actually get records wrong: random bytes, non-UTF-8 or duplicated CloudEvents headers,
timestamps that cannot become UTC, huge or deeply nested JSON, unknown types, tombstones,
wrong content types, wrong field types.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from kauppa.contracts import envelope, examples, to_kafka

Headers = list[tuple[str, bytes]]

GOOD_KINDS = ("good", "good_foreign_header", "good_repeated")
BAD_KINDS = (
    "random_bytes",
    "non_utf8_ce_header",
    "conflicting_ce_headers",
    "ce_time_overflow",
    "ce_time_malformed",
    "body_time_overflow",
    "huge_json",
    "deep_json",
    "unknown_type",
    "tombstone",
    "wrong_content_type",
    "wrong_field_type",
    "no_ce_id",
)

OVERFLOWING_TIMES = (
    "0001-01-01T00:00:00+01:00",  # before year 1 once made UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once made UTC
    "0001-01-01T00:30:00+14:00",
)
MALFORMED_TIMES = ("2026-02-30T00:00:00Z", "yesterday", "2026-13-01T00:00:00Z", "\x00")


@dataclass
class HostileRecord:
    kind: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    lead_id: str | None = None  # for good records: the lead that must be handled once

    @property
    def good(self) -> bool:
        return self.kind in GOOD_KINDS


def _good_parts(lead_id: str) -> tuple[bytes, bytes, Headers]:
    lead = examples.lead_qualified(lead_id=lead_id)
    _topic, key, value, headers = to_kafka(envelope(lead, source="fuzz"))
    return key, value, headers


def _replace(headers: Headers, name: str, value: bytes) -> Headers:
    return [(k, value if k == name else v) for k, v in headers]


@dataclass(frozen=True)
class RecordSpec:
    """What Hypothesis draws: a kind, a key and the kind's parameters. The record itself
    is made from it outside the strategy (``materialise``), since making an event draws
    ids and trace ids at random, which a strategy must not."""

    kind: str
    key: bytes
    choice: Any = None

    def __repr__(self) -> str:  # keep Hypothesis' failure reports readable
        shown = self.choice if not isinstance(self.choice, bytes | str) else self.choice[:40]
        return f"RecordSpec({self.kind!r}, {self.key!r}, {shown!r})"


_CHOICES: dict[str, st.SearchStrategy[Any]] = {
    "good_foreign_header": st.binary(min_size=1, max_size=64),
    "random_bytes": st.binary(min_size=0, max_size=2048),
    "non_utf8_ce_header": st.sampled_from(["ce_id", "ce_type", "ce_source", "ce_time"]),
    "conflicting_ce_headers": st.sampled_from(["ce_id", "ce_type", "ce_specversion"]),
    "ce_time_overflow": st.sampled_from(OVERFLOWING_TIMES),
    "ce_time_malformed": st.sampled_from(MALFORMED_TIMES),
    "body_time_overflow": st.sampled_from(OVERFLOWING_TIMES),
    "huge_json": st.tuples(
        st.sampled_from(["notes", "lead_id", "organisation_id"]),
        st.integers(min_value=100_000, max_value=600_000),
    ),
    "deep_json": st.integers(min_value=200, max_value=50_000),
    "wrong_content_type": st.sampled_from(["application/xml", "text/plain", "application/avro"]),
    # A field and a value of a type it never takes (an empty list is a valid
    # product_interest, so each field has its own wrong values).
    "wrong_field_type": st.one_of(
        st.tuples(st.just("lead_id"), st.sampled_from([12345, None, [], {"a": 1}, True, 1.5e308])),
        st.tuples(st.just("product_interest"), st.sampled_from([12345, "crm", {"a": 1}, True])),
        st.tuples(
            st.sampled_from(["criteria", "source", "prospect"]),
            st.sampled_from([12345, None, [], "yes", 1.5e308]),
        ),
        st.tuples(st.just("qualified_at"), st.sampled_from(["soon", None, [], {"a": 1}])),
    ),
}


@st.composite
def hostile_record(
    draw: st.DrawFn, key_choices: tuple[bytes, ...], kind: str | None = None
) -> RecordSpec:
    """A record of a drawn kind, or of ``kind``."""
    kind = kind or draw(st.sampled_from(GOOD_KINDS + BAD_KINDS))
    key = draw(st.sampled_from(key_choices))  # a few keys: several partitions, order matters
    choice = draw(_CHOICES[kind]) if kind in _CHOICES else None
    return RecordSpec(kind, key, choice)


def materialise(spec: RecordSpec) -> list[HostileRecord]:
    """The record(s) of a spec (two for ``good_repeated``)."""
    kind, key, choice = spec.kind, spec.key, spec.choice
    lead_id = f"fuzz-{uuid.uuid4().hex[:16]}"
    _k, value, headers = _good_parts(lead_id)

    def rec(v: bytes | None, h: Headers, good_id: str | None = None) -> list[HostileRecord]:
        return [HostileRecord(kind, key, v, h, good_id)]

    if kind == "good":
        return rec(value, headers, lead_id)
    if kind == "good_foreign_header":
        return rec(value, [*headers, ("x-upstream-trace", choice)], lead_id)
    if kind == "good_repeated":
        return rec(value, headers, lead_id) * 2
    if kind == "random_bytes":
        return rec(choice, headers)
    if kind == "non_utf8_ce_header":
        return rec(value, _replace(headers, choice, b"\xff\xfe\xc3\x28xxxx"))
    if kind == "conflicting_ce_headers":
        other = {"ce_id": str(uuid.uuid4()), "ce_type": "fi.kauppa.LeadRejected.v1"}.get(
            choice, "0.3"
        )
        return rec(value, [*headers, (choice, other.encode())])
    if kind in ("ce_time_overflow", "ce_time_malformed"):
        return rec(value, _replace(headers, "ce_time", choice.encode()))
    doc = json.loads(value)
    if kind == "body_time_overflow":
        doc["qualified_at"] = choice
        return rec(json.dumps(doc).encode(), headers)
    if kind == "huge_json":
        field, size = choice
        doc[field] = "x" * size
        return rec(json.dumps(doc).encode(), headers)
    if kind == "deep_json":
        inner = "[" * choice + "]" * choice
        return rec(('{"deep": ' + inner + ", " + value.decode()[1:]).encode(), headers)
    if kind == "unknown_type":
        return rec(value, _replace(headers, "ce_type", b"fi.kauppa.NoSuchThing.v1"))
    if kind == "tombstone":
        return rec(None, headers)
    if kind == "wrong_content_type":
        return rec(value, _replace(headers, "content-type", choice.encode()))
    if kind == "wrong_field_type":
        field, wrong = choice
        doc[field] = wrong
        return rec(json.dumps(doc).encode(), headers)
    assert kind == "no_ce_id", kind
    return rec(value, [(k, v) for k, v in headers if k != "ce_id"])


def materialise_all(specs: list[RecordSpec]) -> list[HostileRecord]:
    return [r for spec in specs for r in materialise(spec)]


def hostile_batch(
    *, min_records: int, max_records: int, key_choices: tuple[bytes, ...]
) -> st.SearchStrategy[tuple[str, list[RecordSpec]]]:
    """A compression codec and the records of one producer batch, good and bad interleaved."""
    records = st.lists(hostile_record(key_choices), min_size=min_records, max_size=max_records)
    return st.tuples(st.sampled_from(["none", "gzip", "snappy", "lz4", "zstd"]), records)


def every_kind_batch(
    key_choices: tuple[bytes, ...],
) -> st.SearchStrategy[tuple[str, list[RecordSpec]]]:
    """One record of every kind, in a drawn order, lz4-compressed (a kind the random
    batches happen not to draw still gets tested)."""
    kinds = st.permutations(GOOD_KINDS + BAD_KINDS)
    specs = kinds.flatmap(lambda ks: st.tuples(*(hostile_record(key_choices, k) for k in ks)))
    return st.tuples(st.just("lz4"), specs.map(list))
