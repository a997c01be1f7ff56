"""Durable timers on a real mongod: exactly-once firing across replicas, catch-up after
downtime, lateness recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import examples
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork

from .tally_service import TIMER_HANDLERS, handlers

pytestmark = pytest.mark.integration


async def schedule_many(rt: ServiceRuntime, n: int, due: datetime) -> list[str]:
    keys = [f"remind:lead-{i}" for i in range(n)]

    async def work(uow: UnitOfWork) -> None:
        for i, key in enumerate(keys):
            uow.schedule(key, due, "remind", {"lead_id": f"lead-{i}", "org": "org-t"})

    await rt.committer.commit(work)
    return keys


async def timer_runtime(
    settings_for, runtimes, clock: ManualClock, *, run_timers: bool = False
) -> ServiceRuntime:
    """A started runtime on ``clock``; without ``run_timers`` its timers fire only when
    the test calls ``fire_due``."""
    rt = ServiceRuntime(
        settings_for(service_name="timers"),
        handlers,
        timer_handlers=TIMER_HANDLERS,
        clock=clock,
        consume=False,
        run_timers=run_timers,
    )
    runtimes.append(rt)
    await rt.start()
    return rt


async def test_two_competing_schedulers_fire_each_timer_exactly_once(settings_for, runtimes):
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = settings_for(service_name="timers", timer_batch=50)
    a = ServiceRuntime(
        settings, handlers, timer_handlers=TIMER_HANDLERS, clock=clock, consume=False
    )
    b = ServiceRuntime(
        settings, handlers, timer_handlers=TIMER_HANDLERS, clock=clock, consume=False
    )
    runtimes += [a, b]
    await a.start()
    await b.start()
    keys = await schedule_many(a, 400, clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=6))
    a.timers.wake()
    b.timers.wake()

    async def all_fired() -> None:
        while await a.db["_timers"].count_documents({"state": "fired"}) < len(keys):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_fired(), 30)
    await asyncio.sleep(0.3)
    counts = [d["n"] async for d in a.db["reminded"].find({})]
    assert len(counts) == len(keys)
    assert set(counts) == {1}, "no timer fired twice"
    fired_by_a = a.metrics.timers_fired.labels("timers", "remind")._value.get()
    fired_by_b = b.metrics.timers_fired.labels("timers", "remind")._value.get()
    assert fired_by_a + fired_by_b == len(keys)


async def test_timers_due_while_down_fire_after_restart_with_lateness(settings_for, runtimes):
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = settings_for(service_name="timers")
    first = ServiceRuntime(
        settings, handlers, timer_handlers=TIMER_HANDLERS, clock=clock, consume=False
    )
    await first.start()
    await schedule_many(first, 3, clock.now() + timedelta(hours=1))
    await first.stop()  # down for the whole afternoon

    clock.advance(timedelta(hours=5))
    second = ServiceRuntime(
        settings, handlers, timer_handlers=TIMER_HANDLERS, clock=clock, consume=False
    )
    runtimes.append(second)
    await second.start()

    async def fired() -> list[dict]:
        while await second.db["reminded"].count_documents({}) < 3:
            await asyncio.sleep(0.05)
        return await second.db["_timers"].find({}).to_list()

    docs = await asyncio.wait_for(fired(), 20)
    assert {d["state"] for d in docs} == {"fired"}
    assert all(d["lateness_seconds"] == pytest.approx(4 * 3600) for d in docs)
    lateness = second.metrics.timer_lateness.labels("timers")._sum.get()
    assert lateness == pytest.approx(3 * 4 * 3600)


async def test_a_timer_not_yet_due_does_not_fire(settings_for, runtimes):
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rt = await timer_runtime(settings_for, runtimes, clock, run_timers=True)
    await schedule_many(rt, 1, clock.now() + timedelta(minutes=10))
    clock.advance(timedelta(minutes=9, seconds=59))
    assert await rt.timers.fire_due() == 0
    clock.advance(timedelta(seconds=1))
    assert await rt.timers.fire_due() == 1
    assert await rt.timers.fire_due() == 0


async def test_rescheduling_rearms_and_cancel_removes(settings_for, runtimes):
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rt = await timer_runtime(settings_for, runtimes, clock)
    [key] = await schedule_many(rt, 1, clock.now() + timedelta(minutes=10))

    async def rearm(uow: UnitOfWork) -> None:
        uow.schedule(key, uow.now + timedelta(days=1), "remind", {"lead_id": "x", "org": "o"})

    await rt.committer.commit(rearm)
    clock.advance(timedelta(hours=1))
    assert await rt.timers.fire_due() == 0, "re-armed to tomorrow"

    async def cancel(uow: UnitOfWork) -> None:
        uow.cancel(key)

    await rt.committer.commit(cancel)
    clock.advance(timedelta(days=2))
    assert await rt.timers.fire_due() == 0
    assert examples  # the sample factories import cleanly alongside


async def test_a_new_timer_is_inserted_and_fires_like_an_upserted_one(settings_for, runtimes):
    """``schedule(new=True)`` writes the same timer as the upsert does, and a key that
    exists already makes the write fail instead of silently re-arming it."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rt = await timer_runtime(settings_for, runtimes, clock)
    due = clock.now() + timedelta(minutes=10)
    [upserted] = await schedule_many(rt, 1, due)

    async def insert(uow: UnitOfWork) -> None:
        uow.schedule("remind:new", due, "remind", {"lead_id": "lead-n", "org": "org-t"}, new=True)

    await rt.committer.commit(insert)
    timers = rt.db["_timers"]
    inserted = await timers.find_one({"_id": "remind:new"}, {"_id": 0})
    same = await timers.find_one({"_id": upserted}, {"_id": 0})
    assert inserted is not None and same is not None
    assert inserted.keys() == same.keys()
    assert {k: v for k, v in inserted.items() if k != "payload"} == {
        k: v for k, v in same.items() if k != "payload"
    }

    async def again(uow: UnitOfWork) -> None:
        uow.schedule(upserted, due + timedelta(days=1), "remind", {"lead_id": "x"}, new=True)

    with pytest.raises(Exception, match="duplicate key"):
        await rt.committer.commit(again)
    clock.advance(timedelta(minutes=10))
    assert await rt.timers.fire_due() == 2, "both fire; the failed write changed nothing"


async def test_a_timer_its_handler_fails_on_is_parked_and_the_others_fire(settings_for, runtimes):
    """A timer whose handler raises (here: its payload makes an invalid event) must not
    hold up the timers beside it, nor be retried forever: it is parked as ``failed`` with
    the error, logged and counted. Before, the whole claimed batch failed again every
    second and no timer of the service fired."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rt = await timer_runtime(settings_for, runtimes, clock)
    due = clock.now() + timedelta(minutes=1)

    async def work(uow: UnitOfWork) -> None:
        for lead in ("lead-a", "not a valid id!", "lead-b"):
            uow.schedule(f"remind:{lead}", due, "remind", {"lead_id": lead, "org": "org-t"})

    await rt.committer.commit(work)
    clock.advance(timedelta(minutes=2))
    assert await rt.timers.fire_due() == 2
    reminded = {d["_id"] async for d in rt.db["reminded"].find()}
    assert reminded == {"remind:lead-a", "remind:lead-b"}
    parked = await rt.db["_timers"].find_one({"_id": "remind:not a valid id!"})
    assert parked["state"] == "failed"
    assert "ValidationError" in parked["error"]
    failed = rt.metrics.timers_failed.labels(rt.metrics.service, "remind")._value.get()
    assert failed == 1
    assert await rt.timers.fire_due() == 0  # parked: not claimed again
