"""How a transaction's events are split into outbox rows (pure)."""

from __future__ import annotations

from kauppa.servicekit import unit_of_work
from kauppa.servicekit.producer import ProducerRecord


def _record(size: int) -> ProducerRecord:
    return ProducerRecord("t", b"k", b"x" * size, [("ce_id", b"1")])


def test_outbox_rows_stay_under_the_size_limit():
    records = [_record(1000) for _ in range(10)]
    each = 1000 + unit_of_work.RECORD_ALLOWANCE
    ranges = unit_of_work._chunks(records, 3 * each + 1)
    assert ranges[0] == (0, 3) and ranges[-1][1] == 10
    assert all(end > start for start, end in ranges)
    assert [i for start, end in ranges for i in range(start, end)] == list(range(10))
    # One record larger than the limit still gets a row of its own.
    assert unit_of_work._chunks([_record(10_000)], 3 * each) == [(0, 1)]
    assert unit_of_work._chunks([_record(10)] * 2, 3 * each) == [(0, 2)]
