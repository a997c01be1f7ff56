"""The funnel: how many leads and deals reached each stage in a period."""

from __future__ import annotations

from dataclasses import dataclass

# (stage, the stage it is measured against for the conversion percentage)
STAGES: tuple[tuple[str, str | None], ...] = (
    ("qualified", None),
    ("rejected_at_gate", "qualified"),
    ("assigned", "qualified"),
    ("accepted", "assigned"),
    ("returned", "assigned"),
    ("closed", "accepted"),
    ("lost", "accepted"),
    ("confirmed", "closed"),
    ("delivered", "closed"),
    ("feedback_done", "delivered"),
)


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    count: int
    of_stage: str | None
    percent: float | None  # of ``of_stage``; None when that stage is empty


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` as a percentage rounded to one decimal; None when whole is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def funnel(counts: dict[str, int]) -> list[FunnelStep]:
    """The funnel in stage order; missing stages count 0."""
    return [
        FunnelStep(
            stage,
            counts.get(stage, 0),
            base,
            ratio(counts.get(stage, 0), counts.get(base, 0)) if base else None,
        )
        for stage, base in STAGES
    ]
