"""Confirmation latency (D11: close -> written confirmation sent): percentiles and a
histogram with buckets people read at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Upper bounds in seconds: the confirmation usually goes at once or next business
# morning (D11), so hours and days matter more than seconds.
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 min", 60),
    ("< 15 min", 15 * 60),
    ("< 1 h", 3600),
    ("< 4 h", 4 * 3600),
    ("< 24 h", 24 * 3600),
    ("< 2 d", 2 * 86400),
    ("< 4 d", 4 * 86400),
    (">= 4 d", math.inf),
)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    histogram: list[tuple[str, int]]

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "p50_seconds": self.p50_seconds,
            "p90_seconds": self.p90_seconds,
            "max_seconds": self.max_seconds,
            "histogram": [{"bucket": b, "count": n} for b, n in self.histogram],
        }


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def summarise(latencies_seconds: Sequence[float]) -> LatencySummary:
    """Negative latencies (clock skew between systems) count as zero."""
    values = sorted(max(0.0, v) for v in latencies_seconds)
    counts = [0] * len(BUCKETS)
    for v in values:
        for i, (_label, upper) in enumerate(BUCKETS):
            if v < upper:
                counts[i] += 1
                break
    return LatencySummary(
        count=len(values),
        p50_seconds=percentile(values, 50),
        p90_seconds=percentile(values, 90),
        max_seconds=values[-1] if values else None,
        histogram=[(label, n) for (label, _), n in zip(BUCKETS, counts, strict=True)],
    )
