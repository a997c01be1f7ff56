"""A truncated dead letter always fits the limit, keeps its dlq_* headers and a prefix of
the value, whatever the original looks like (so dead-lettering cannot fail on size)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from kauppa.servicekit.deadletters import (
    FULL_REF,
    FULL_SIZE,
    RawRecord,
    dead_letter_record,
    truncated,
)
from kauppa.servicekit.producer import ProducerRecord
from kauppa.servicekit.unit_of_work import OversizedEvent, check_size, record_bytes

headers = st.lists(st.tuples(st.text(max_size=40), st.binary(max_size=3000)), max_size=30).map(
    lambda hs: [(k, v) for k, v in hs if not k.startswith("dlq_")]
)


@settings(max_examples=200, deadline=None)
@given(
    key=st.none() | st.binary(max_size=2000),
    value=st.none() | st.binary(max_size=50_000),
    original_headers=headers,
    reason=st.text(max_size=5000),
    limit=st.integers(min_value=1024, max_value=40_000),
)
def test_a_truncated_letter_fits_and_keeps_what_matters(
    key, value, original_headers, reason, limit
):
    raw = RawRecord("kauppa.x", 1, 42, key, value, original_headers)
    letter = dead_letter_record("svc", raw, "undecodable", reason)
    cut = truncated(letter, "svc/kauppa.x/1@42", limit)
    assert record_bytes(cut) <= limit
    names = [k for k, _ in cut.headers]
    for name in ("dlq_reason_kind", "dlq_origin_topic", "dlq_origin_offset", FULL_REF, FULL_SIZE):
        assert name in names
    assert dict(cut.headers)[FULL_SIZE] == str(record_bytes(letter)).encode()
    if value is None:
        assert cut.value is None
    else:
        assert value.startswith(cut.value or b"")
    kept = [h for h in cut.headers if not h[0].startswith("dlq_")]
    assert all(h in original_headers for h in kept)


def test_the_size_check_counts_key_value_headers_and_framing():
    record = ProducerRecord("t", b"k" * 10, b"v" * 1000, [("h", b"x" * 100)])
    size = record_bytes(record)
    assert 1111 < size < 1111 + 200
    check_size(record, "T", size)  # exactly at the limit: fits
    check_size(record, "T", None)  # no limit
    try:
        check_size(record, "T", size - 1)
    except OversizedEvent as exc:
        assert (exc.size, exc.limit, exc.type_name) == (size, size - 1, "T")
        assert "exceeds the broker's max message size" in str(exc)
    else:
        raise AssertionError("not refused")
