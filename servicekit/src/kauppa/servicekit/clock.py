"""Injectable time. Domain code takes ``now`` as an argument; the runtime asks a Clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from kauppa.servicekit.settings import ClockSettings


class Clock(Protocol):
    def now(self) -> datetime: ...

    def real_seconds(self, virtual: timedelta) -> float:
        """How long to sleep in real time for ``virtual`` time to pass."""
        ...

    def span(self, real: timedelta) -> timedelta:
        """How much clock time passes during ``real`` wall time. Leases and grace
        periods are wall-time durations (a process must be able to do its work within
        them), but they are compared with clock timestamps."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds(self, virtual: timedelta) -> float:
        return max(virtual.total_seconds(), 0.0)

    def span(self, real: timedelta) -> timedelta:
        return real


class ManualClock:
    """For tests: time moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def real_seconds(self, virtual: timedelta) -> float:
        return 0.05  # re-check soon; the test moves the clock

    def span(self, real: timedelta) -> timedelta:
        return real  # the test decides when leases run out, by moving the clock


class AcceleratedClock:
    """Virtual time running ``speed`` times faster than real time, from a shared epoch."""

    def __init__(self, speed: float, start: datetime, epoch: float) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed, self.start, self.epoch = speed, start.astimezone(UTC), epoch

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)

    def real_seconds(self, virtual: timedelta) -> float:
        return max(virtual.total_seconds() / self.speed, 0.0)

    def span(self, real: timedelta) -> timedelta:
        return real * self.speed


def clock_from_settings(settings: ClockSettings) -> Clock:
    if settings.speed == 1.0 and settings.start is None:
        return SystemClock()
    start = (
        datetime.fromisoformat(settings.start.replace("Z", "+00:00"))
        if settings.start
        else datetime.now(UTC)
    )
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return AcceleratedClock(settings.speed, start, settings.epoch or time.time())
