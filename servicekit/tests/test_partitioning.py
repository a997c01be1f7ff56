"""The producer's partitioning is Kafka's default: murmur2 of the key, as the Java client
computes it, so keyed events land where every other Kafka producer would put them."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from kauppa.servicekit.producer import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit results).
JAVA_CASES = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("data", "expected"), JAVA_CASES)
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected & 0xFFFFFFFF


def test_murmur2_matches_aiokafka_for_every_length() -> None:
    rng = random.Random(7)
    for length in range(0, 130):
        for _ in range(20):
            data = rng.randbytes(length)
            assert murmur2(data) == aiokafka_murmur2(data), (length, data)


def test_partition_for_matches_the_default_partitioner() -> None:
    rng = random.Random(11)
    reference = DefaultPartitioner()
    for n in (1, 3, 7, 12):
        parts = list(range(n))
        for i in range(500):
            key = f"lead-{rng.getrandbits(48):012x}-{i}".encode()
            assert partition_for(key, parts) == reference(key, parts, parts)
    assert partition_for(None, [0, 1, 2]) in (0, 1, 2)
