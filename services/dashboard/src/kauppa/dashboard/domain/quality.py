"""Lead quality per source, partner, list and booker (D2-D4): the same numbers for the
buyer and the provider, so the quality argument is settled by data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from kauppa.dashboard.domain.funnel import ratio

DIMENSIONS = {"source": "system", "partner": "partner", "list": "campaign", "booker": "booker"}
# What a row counts, in the order the API lists them (the fields of QualityRow).
COUNTS = ("qualified", "rejected_at_gate", "queued", "assigned", "accepted", "returned", "closed")
NONE_LABEL = "(none)"


@dataclass
class QualityRow:
    """One source (or partner, list, booker) and what sellers made of its leads."""

    name: str
    qualified: int = 0
    rejected_at_gate: int = 0
    queued: int = 0  # waited for a seller at least once (LeadQueued)
    assigned: int = 0
    accepted: int = 0
    returned: int = 0
    closed: int = 0
    return_reasons: dict[str, int] = field(default_factory=dict)
    queue_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float | None:
        """D2: of the leads sellers gave a verdict on, the share they took."""
        return ratio(self.accepted, self.accepted + self.returned)

    @property
    def conversion_rate(self) -> float | None:
        """Of the accepted leads, the share that became a closed deal."""
        return ratio(self.closed, self.accepted)

    @property
    def gate_rejection_rate(self) -> float | None:
        """D1: of the leads handed in, the share the gate refused (criteria unmet)."""
        return ratio(self.rejected_at_gate, self.qualified)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            **{count: getattr(self, count) for count in COUNTS},
            "acceptance_rate": self.acceptance_rate,
            "conversion_rate": self.conversion_rate,
            "gate_rejection_rate": self.gate_rejection_rate,
            "return_reasons": _busiest_first(self.return_reasons),
            "queue_reasons": _busiest_first(self.queue_reasons),
        }


def _busiest_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def quality_row(
    name: str | None,
    counts: dict[str, int],
    reasons: Iterable[str | None],
    queue_reasons: Iterable[str | None] = (),
) -> QualityRow:
    """A row from grouped counts, the return reasons of its returned leads and why its
    queued leads found no seller (the latest reason of each)."""
    return QualityRow(
        name=name or NONE_LABEL,
        **{count: counts.get(count, 0) for count in COUNTS},
        return_reasons=dict(Counter(r for r in reasons if r)),
        queue_reasons=dict(Counter(r for r in queue_reasons if r)),
    )


def rank(rows: Iterable[QualityRow]) -> list[QualityRow]:
    """Busiest first, so the sources that matter most are on top."""
    return sorted(rows, key=lambda r: (-r.qualified, -r.assigned, r.name))
