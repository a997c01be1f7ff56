"""Is the consumer getting anywhere? A pure watch over batches and lag.

Progress is a batch applied, or the consumer caught up (no lag and no batch in hand).
A consumer with work (lag, or a batch in hand) and no progress for ``stall_after``
seconds is *stalled*: readiness names it, a gauge shows it, and an error is logged once
per ``stall_after`` while it lasts. ``now`` (unix seconds) is injected for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ProgressWatch:
    stall_after: float
    now: Callable[[], float] = time.time
    last_progress: float = field(init=False)
    lag: int = field(init=False, default=0)
    in_hand: int = field(init=False, default=0)  # records of batches being applied
    _batches: int = field(init=False, default=0)
    _last_alarm: float | None = field(init=False, default=None)
    _unknown_since: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.last_progress = self.now()

    def batch_started(self, records: int) -> None:
        self._batches += 1
        self.in_hand += records

    def batch_ended(self, records: int, *, applied: bool) -> None:
        self._batches -= 1
        self.in_hand -= records
        if applied:
            self._progressed()

    def observe(self, lag: int) -> None:
        """The consumer's total lag now; none and nothing in hand is progress."""
        self.lag, self._unknown_since = lag, None
        if lag <= 0 and self._batches == 0:
            self._progressed()

    def unknown(self) -> None:
        """The lag cannot be told now (no partitions: joining the group again after a
        failed batch, or none assigned). The last lag stands, for ``stall_after`` at
        most: a failing batch's rejoins do not hide its stall, and a replica that lost
        its partitions for good is not stalled."""
        now = self.now()
        if self._unknown_since is None:
            self._unknown_since = now
        elif now - self._unknown_since >= self.stall_after:
            self.lag = 0

    def _progressed(self) -> None:
        self.last_progress = self.now()
        self._last_alarm = None

    @property
    def idle_for(self) -> float:
        return max(self.now() - self.last_progress, 0.0)

    @property
    def stalled(self) -> bool:
        has_work = self.lag > 0 or self._batches > 0
        return has_work and self.idle_for >= self.stall_after

    def reason(self) -> str | None:
        """``"stalled: lag 37, no progress for 130 s"``, or None while it moves."""
        if not self.stalled:
            return None
        return f"stalled: lag {max(self.lag, self.in_hand)}, no progress for {self.idle_for:.0f} s"

    def alarm(self) -> str | None:
        """The reason, once per ``stall_after`` while stalled (for the error log)."""
        reason = self.reason()
        if reason is None:
            return None
        now = self.now()
        if self._last_alarm is not None and now - self._last_alarm < self.stall_after:
            return None
        self._last_alarm = now
        return reason
