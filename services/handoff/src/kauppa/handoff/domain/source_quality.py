"""D2 and D4: lead quality per source, from the same facts both sides can see.

Per source system, partner, list/campaign and booker: leads received, rejected at the
gate (by criterion), malformed, linked as duplicates, queued for want of a seller (by
the last reason), assigned, accepted, returned (by
reason), later closed or lost, the rates between them and the time sellers took to give
a verdict. A lead linked to another source's lead for the same prospect is credited with
what happens to that lead (both sources found the prospect).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DIMENSIONS = ("system", "partner", "campaign", "booker")


@dataclass(frozen=True)
class LeadFacts:
    """What became of one lead."""

    lead_id: str
    source: dict[str, str | None]
    received_at: datetime
    status: str
    unmet_criteria: tuple[str, ...] = ()
    malformed: bool = False
    linked_to: str | None = None
    assigned_at: datetime | None = None
    verdict: str | None = None  # accept / return (for a linked lead: the primary's)
    verdict_at: datetime | None = None
    return_reason: str | None = None
    closed: bool = False
    lost: bool = False
    reminders: int = 0
    reassignments: int = 0
    queue_reason: str | None = None  # why it last waited for a seller (None: never)


@dataclass
class SourceQuality:
    dimension: str
    value: str
    received: int = 0
    rejected: int = 0
    rejected_by_criterion: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    linked_as_duplicate: int = 0
    queued: int = 0  # waited for a seller at least once (LeadQueued)
    queued_by_reason: Counter[str] = field(default_factory=Counter)
    assigned: int = 0
    accepted: int = 0
    returned: int = 0
    returned_by_reason: Counter[str] = field(default_factory=Counter)
    closed: int = 0
    lost: int = 0
    sla_reminders: int = 0
    sla_reassignments: int = 0
    verdict_hours: list[float] = field(default_factory=list)

    def add(self, f: LeadFacts) -> None:
        self.received += 1
        if f.unmet_criteria or f.malformed:
            self.rejected += 1
            self.rejected_by_criterion.update(f.unmet_criteria)
            self.malformed += int(f.malformed)
        if f.linked_to:
            self.linked_as_duplicate += 1
        if f.queue_reason:
            self.queued += 1
            self.queued_by_reason[f.queue_reason] += 1
        if f.assigned_at is not None:
            self.assigned += 1
        if f.verdict == "accept":
            self.accepted += 1
        elif f.verdict == "return":
            self.returned += 1
            if f.return_reason:
                self.returned_by_reason[f.return_reason] += 1
        self.closed += int(f.closed)
        self.lost += int(f.lost)
        self.sla_reminders += f.reminders
        self.sla_reassignments += f.reassignments
        if f.assigned_at is not None and f.verdict_at is not None and not f.linked_to:
            self.verdict_hours.append((f.verdict_at - f.assigned_at).total_seconds() / 3600)

    def as_dict(self) -> dict[str, Any]:
        verdicts = self.accepted + self.returned
        hours = self.verdict_hours
        return {
            "dimension": self.dimension,
            "value": self.value,
            "received": self.received,
            "rejected": self.rejected,
            "rejected_by_criterion": dict(sorted(self.rejected_by_criterion.items())),
            "malformed": self.malformed,
            "linked_as_duplicate": self.linked_as_duplicate,
            "queued": self.queued,
            "queued_by_reason": dict(sorted(self.queued_by_reason.items())),
            "assigned": self.assigned,
            "accepted": self.accepted,
            "returned": self.returned,
            "returned_by_reason": dict(sorted(self.returned_by_reason.items())),
            "closed": self.closed,
            "lost": self.lost,
            "sla_reminders": self.sla_reminders,
            "sla_reassignments": self.sla_reassignments,
            # D2: the share of what the source sent that was fit for a seller.
            "suitable_rate": _rate(self.received - self.rejected, self.received),
            "acceptance_rate": _rate(self.accepted, verdicts),
            "close_rate_of_accepted": _rate(self.closed, self.accepted),
            "close_rate_of_received": _rate(self.closed, self.received),
            "time_to_verdict_hours": {
                "n": len(hours),
                "mean": round(statistics.fmean(hours), 2) if hours else None,
                "median": round(statistics.median(hours), 2) if hours else None,
            },
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def source_quality(
    facts: Iterable[LeadFacts], dimensions: Iterable[str] = DIMENSIONS
) -> list[SourceQuality]:
    """One row per (dimension, value); leads without a value for a dimension are left
    out of that dimension (a lead without a partner came in-house)."""
    dims = list(dimensions)
    rows: dict[tuple[str, str], SourceQuality] = {}
    for f in facts:
        for dim in dims:
            value = f.source.get(dim)
            if not value:
                continue
            row = rows.get((dim, value))
            if row is None:
                row = rows[(dim, value)] = SourceQuality(dim, value)
            row.add(f)
    return [rows[k] for k in sorted(rows)]
