"""The scenarios' inputs look like production traffic to the broker."""

from __future__ import annotations

from collections import Counter

from kauppa.bench.scenarios.kit import inputs
from kauppa.contracts import to_kafka
from kauppa.servicekit.producer import partition_for


def test_bench_inputs_spread_over_the_topics_partitions() -> None:
    """The benchmark's inputs are keyed by aggregate (deal) id, so they spread over the
    topic's partitions as production traffic does; one shared key would put all 50,000
    records, and the whole measurement, on a single partition."""
    keys = [to_kafka(env)[1] for env in inputs(3_000)]
    spread = Counter(partition_for(k, [0, 1, 2]) for k in keys)
    assert len(set(keys)) == len(keys)
    assert set(spread) == {0, 1, 2}
    assert min(spread.values()) > 800
