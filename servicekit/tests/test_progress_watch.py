"""ProgressWatch: when a consumer counts as stalled, and how often it says so."""

from __future__ import annotations

from kauppa.servicekit.progress import ProgressWatch


class Now:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def watch(stall_after: float = 120) -> tuple[ProgressWatch, Now]:
    now = Now()
    return ProgressWatch(stall_after, now=now), now


def test_lag_without_progress_stalls_after_the_configured_time() -> None:
    w, now = watch()
    w.observe(37)
    now.t += 119
    assert not w.stalled and w.reason() is None
    now.t += 11
    assert w.stalled
    assert w.reason() == "stalled: lag 37, no progress for 130 s"


def test_an_idle_consumer_without_lag_never_stalls() -> None:
    w, now = watch()
    for _ in range(10):
        now.t += 100
        w.observe(0)
    assert not w.stalled and w.last_progress == now.t


def test_an_applied_batch_is_progress() -> None:
    w, now = watch()
    w.observe(500)
    now.t += 100
    w.batch_started(100)
    w.batch_ended(100, applied=True)
    now.t += 100
    w.observe(400)
    assert not w.stalled and w.idle_for == 100


def test_a_batch_that_keeps_failing_is_no_progress() -> None:
    w, now = watch()
    w.observe(20)
    for _ in range(13):
        now.t += 10
        w.batch_started(20)
        w.batch_ended(20, applied=False)
        w.unknown()  # the consumer rejoins the group
        now.t += 0.5
        w.observe(20)
    assert w.stalled and w.reason() == "stalled: lag 20, no progress for 136 s"


def test_a_batch_in_hand_counts_as_work_even_with_no_lag_known() -> None:
    w, now = watch()
    w.batch_started(37)
    w.observe(0)  # caught up by the positions, but the batch never finishes
    now.t += 121
    assert w.reason() == "stalled: lag 37, no progress for 121 s"
    w.batch_ended(37, applied=True)
    w.observe(0)
    assert not w.stalled and w.last_progress == now.t


def test_the_alarm_sounds_once_per_interval_and_again_after_a_recovery() -> None:
    w, now = watch(60)
    w.observe(5)
    now.t += 60
    assert w.alarm() is not None
    for _ in range(5):
        now.t += 10
        assert w.alarm() is None
    now.t += 10
    assert w.alarm() == "stalled: lag 5, no progress for 120 s"
    w.observe(0)
    w.observe(5)
    now.t += 60
    assert w.alarm() is not None


def test_a_lag_unknown_for_longer_than_the_interval_is_dropped() -> None:
    """A replica that lost its partitions for good is not stalled on their old lag."""
    w, now = watch(60)
    w.observe(5)
    for _ in range(7):
        now.t += 10
        w.unknown()
    assert w.lag == 0 and not w.stalled
