"""The benchmark harness (`make bench`) on the real broker and mongod: a scenario run as
replicas in one consumer group answers every input once, and the replicas share it."""

from __future__ import annotations

import pytest
from kauppa.bench import harness

pytestmark = pytest.mark.integration


async def test_a_scenario_run_as_two_replicas_answers_every_input(kafka_settings, mongo_settings):
    n = 3_000
    result = await harness.run_scenario(
        "kauppa.bench.scenarios.kit", 0, kafka_settings, mongo_settings, n, replicas=2
    )
    assert result.events == n and result.rate > 0
    assert result.cpu_seconds is not None and result.cpu_seconds > 0
    assert result.extra["replicas"] == 2
    consumed = result.extra["events consumed"]
    # Three partitions between two replicas: both work, and every input is consumed.
    assert len(consumed) == 2 and all(c > 0 for c in consumed), consumed
    assert sum(consumed) >= n
    # The run's mean batch is over both replicas' batches, not the first replica's.
    assert result.extra["mean batch"] == round(sum(consumed) / result.extra["batches"], 1)
