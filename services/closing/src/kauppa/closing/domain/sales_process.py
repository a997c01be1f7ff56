"""An organisation's buying path (D5): its stages, when a quiet deal counts as stale, and
its bundle prices. Deals run for months or years; nothing here expires a deal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from kauppa.closing.domain.pricing import BundleRule


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class SalesProcess:
    stages: tuple[str, ...]
    stale_after_days: int
    stale_after_days_by_stage: Mapping[str, int] = field(default_factory=dict)
    bundle_rules: tuple[BundleRule, ...] = ()

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("an organisation needs at least one stage")
        if self.stale_after_days < 1 or any(d < 1 for d in self.stale_after_days_by_stage.values()):
            raise ValueError("stale-after days must be at least 1")

    @property
    def first_stage(self) -> str:
        return self.stages[0]

    def stale_after(self, stage: str) -> timedelta:
        """How long a deal in ``stage`` may go without a logged contact."""
        return timedelta(days=self.stale_after_days_by_stage.get(stage, self.stale_after_days))

    def refuse_move(self, from_stage: str, to_stage: str) -> str | None:
        """Why the move is refused, or None. Moving back is allowed: buyers hesitate (D6)."""
        if to_stage not in self.stages:
            return f"unknown stage {to_stage!r}; this organisation's stages: {list(self.stages)}"
        if to_stage == from_stage:
            return f"the deal is already in stage {to_stage!r}"
        return None


def refuse_unless_open(status: str, action: str) -> str | None:
    """Buying-path commands work on open deals only; a won deal changes by amendment."""
    if status != DealStatus.OPEN:
        return f"cannot {action}: the deal is {status}"
    return None


def stale_reminder_due(last_contact_at: datetime, stage: str, process: SalesProcess) -> datetime:
    """Every logged contact re-arms the reminder from that contact (D5)."""
    return last_contact_at + process.stale_after(stage)


def days_without_contact(last_contact_at: datetime, now: datetime) -> int:
    return max((now - last_contact_at).days, 0)


def latest_contact(current: datetime, contacted_at: datetime) -> datetime:
    """A contact logged late (it happened yesterday) must not move the clock backwards."""
    return max(current, contacted_at)
