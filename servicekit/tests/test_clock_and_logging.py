"""Pure kit logic: clocks, masking, settings profiles."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kauppa.servicekit.clock import AcceleratedClock, ManualClock, SystemClock, clock_from_settings
from kauppa.servicekit.logging import mask_text
from kauppa.servicekit.settings import ClockSettings, KafkaSettings


def test_accelerated_clock_runs_faster_and_agrees_across_processes():
    start = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    epoch = time.time() - 10  # "another process" started the clock 10 s ago
    clock = AcceleratedClock(360, start, epoch)
    assert clock.now() - start >= timedelta(hours=1)  # 10 s x 360
    assert clock.real_seconds(timedelta(hours=1)) == 10


def test_leases_are_wall_time_whatever_the_clock_speed():
    fast = AcceleratedClock(360, datetime(2026, 1, 1, tzinfo=UTC), time.time())
    assert fast.span(timedelta(seconds=30)) == timedelta(seconds=30 * 360)
    assert SystemClock().span(timedelta(seconds=30)) == timedelta(seconds=30)
    assert ManualClock().span(timedelta(seconds=30)) == timedelta(seconds=30)


def test_clock_from_settings():
    assert isinstance(clock_from_settings(ClockSettings()), SystemClock)
    clock = clock_from_settings(ClockSettings(speed=60, start="2026-03-06T12:00:00Z", epoch=0))
    assert isinstance(clock, AcceleratedClock) and clock.speed == 60


def test_personal_data_is_masked_in_logs():
    line = "call Maija at +358 40 123 4567 or maija.meikalainen@esimerkki.fi, lead-42"
    masked = mask_text(line)
    assert "maija.meikalainen" not in masked and "m***@esimerkki.fi" in masked
    assert "123 4567" not in masked and "***67" in masked
    assert "lead-42" in masked


def test_local_profile_carries_tansu_quirks_but_explicit_settings_win():
    local = KafkaSettings(profile="local")
    assert (local.session_timeout_ms, local.fetch_max_wait_ms) == (2000, 10)
    assert local.enable_idempotence is False
    prod = KafkaSettings(profile="production")
    assert prod.enable_idempotence is True and prod.session_timeout_ms >= 6000
    assert KafkaSettings(profile="local", session_timeout_ms=9000).session_timeout_ms == 9000
