"""Benchmarks for ``make bench``.

``SCENARIOS``: DeliveryCompleted in -> NextContactScheduled (the feedback call) out.
``lateness_bench``: N customers scheduled straight into the database, a slice of them
moved to fall due within a short window; reports firing lateness p50/p99, ContactDue/s
and the idle CPU of the running service.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kauppa.bench.harness import Scenario
from kauppa.contracts import envelope, examples
from kauppa.contracts.topics import CUSTOMERS as CUSTOMERS_TOPIC
from kauppa.followup.bootstrap import build_runtime
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.invariant import schedule_fields
from kauppa.followup.domain.next_contact import ContactPolicy
from kauppa.followup.domain.relationship import CONTACT_DUE
from kauppa.followup.repository import CONTACTS, CUSTOMERS
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.repository import Document
from kauppa.servicekit.settings import KafkaSettings, MongoSettings
from kauppa.servicekit.unit_of_work import TIMERS
from pymongo.asynchronous.database import AsyncDatabase


def _deliveries(n: int) -> list[Any]:
    return [envelope(examples.delivery_completed(), source="bench") for _ in range(n)]


SCENARIOS = [
    Scenario(
        name="followup: delivery -> feedback call scheduled",
        build_runtime=lambda overrides: build_runtime(FollowupSettings(**overrides)),
        make_inputs=_deliveries,
        output_type="NextContactScheduled",
        output_topic=CUSTOMERS_TOPIC.name,
    )
]


async def seed_customers(
    db: AsyncDatabase[Document],
    n: int,
    *,
    due_at: Callable[[int], datetime],
    last_contact_at: datetime,
    prefix: str | None = None,
    organisation_id: str = "org-bench",
    sellers: int = 200,
    attributes: Callable[[int], Document] | None = None,
    chunk: int = 20_000,
) -> list[str]:
    """Active customers with a scheduled next contact each (customer, contact and durable
    timer documents, as the service writes them), bulk-inserted. Returns the ids."""
    prefix = prefix or f"c{uuid.uuid4().hex[:6]}"
    policy = ContactPolicy()
    customer_ids = [f"{prefix}-{i:07d}" for i in range(n)]
    for start in range(0, n, chunk):
        customers, contacts, timers = [], [], []
        for i in range(start, min(start + chunk, n)):
            cid, due = customer_ids[i], due_at(i)
            contact_id = ids.next_contact_id("seed", cid)
            seller = f"seller-{i % sellers}"
            customers.append(
                {
                    "_id": cid,
                    "organisation_id": organisation_id,
                    "active": True,
                    "seller_id": seller,
                    "seller_timezone": "Europe/Helsinki",
                    "company_name": f"Asiakas {i} Oy",
                    "customer_since": last_contact_at,
                    "deals": {},
                    "products_owned": ["CRM-PRO"],
                    "attributes": attributes(i) if attributes else {},
                    "open_problems": [],
                    "last_delivery": None,
                    "next_contact": {
                        "contact_id": contact_id,
                        "due_at": due,
                        "kind": "scheduled",
                        "defaulted": False,
                    },
                    "created_at": last_contact_at,
                    **schedule_fields(due, last_contact_at, policy),
                }
            )
            contacts.append(
                {
                    "_id": contact_id,
                    "customer_id": cid,
                    "organisation_id": organisation_id,
                    "seller_id": seller,
                    "kind": "scheduled",
                    "due_at": due,
                    "state": "scheduled",
                    "defaulted": False,
                    "scheduled_at": last_contact_at,
                }
            )
            timers.append(
                {
                    "_id": ids.contact_timer_key(contact_id),
                    "due_at": due,
                    "kind": CONTACT_DUE,
                    "payload": {"contact_id": contact_id, "customer_id": cid, "kind": "scheduled"},
                    "state": "scheduled",
                    "scheduled_at": last_contact_at,
                }
            )
        await asyncio.gather(
            db[CUSTOMERS].insert_many(customers, ordered=False),
            db[CONTACTS].insert_many(contacts, ordered=False),
            db[TIMERS].insert_many(timers, ordered=False),
        )
    return customer_ids


async def _fired_at_least(runtime: Any, n: int) -> bool:
    fired = await runtime.db[TIMERS].count_documents({"state": "fired", "kind": CONTACT_DUE})
    return bool(fired >= n)


async def _no_backlog(runtime: Any) -> bool:
    return bool(await runtime.publisher.backlog() == 0)


async def _until(check: Callable[[], Any], deadline: float) -> bool:
    """Poll ``check`` until true or ``deadline`` (perf_counter) passes."""
    while not await check():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def lateness_bench(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    customers: int,
    *,
    hot: int | None = None,
    window_seconds: float | None = None,
    idle_seconds: float = 3.0,
) -> dict[str, Any]:
    """Schedule ``customers`` next contacts (spread over the coming year), move ``hot`` of
    them (default: 10 %, at most 20,000) to fall due within ``window_seconds``, run the
    service and measure: idle CPU before the window, then lateness and ContactDue/s."""
    hot = min(hot if hot is not None else max(customers // 10, 1), customers, 20_000)
    # ~800 due per second: inside what one replica fires here with p99 < 1 s (see README).
    window_seconds = window_seconds or max(10.0, hot / 800)
    tag = uuid.uuid4().hex[:6]
    settings = FollowupSettings(
        database=f"bench_{tag}_lateness",
        consumer_group=f"bench-{tag}-lateness",
        kafka=kafka,
        mongo=mongo,
        log_level="WARNING",
    )
    runtime = build_runtime(settings)
    now = datetime.now(UTC)
    year = timedelta(days=365)
    parked = datetime(2100, 1, 1, tzinfo=UTC)  # where the hot ones wait to be moved

    def due_at(i: int) -> datetime:
        if i < hot:
            return parked + timedelta(seconds=window_seconds) * (i / hot)
        return now + timedelta(days=1) + year * (i / customers)

    await runtime.db[TIMERS].create_index([("state", 1), ("due_at", 1)], name="due")
    t = time.perf_counter()
    await seed_customers(
        runtime.db, customers, due_at=due_at, last_contact_at=now - timedelta(days=30)
    )
    seed_seconds = time.perf_counter() - t
    await runtime.start()
    try:
        await asyncio.sleep(1.0)  # let the consumer join and settle
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle_seconds)
        idle_cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

        # Move the hot slice: due from a moment from now, across the window.
        window_start = datetime.now(UTC) + timedelta(seconds=1)
        shift_ms = int((window_start - parked).total_seconds() * 1000)
        moved = await runtime.db[TIMERS].update_many(
            {"state": "scheduled", "due_at": {"$gte": parked}},
            [{"$set": {"due_at": {"$add": ["$due_at", shift_ms]}}}],
        )
        runtime.timers.wake()
        deadline = time.perf_counter() + window_seconds + 120
        while (
            await runtime.db[TIMERS].count_documents({"state": "fired", "kind": CONTACT_DUE}) < hot
        ):
            if time.perf_counter() > deadline:
                raise TimeoutError("the hot slice did not fire in time")
            await asyncio.sleep(0.2)
        fired = (
            await runtime.db[TIMERS]
            .find({"state": "fired", "kind": CONTACT_DUE}, {"lateness_seconds": 1, "fired_at": 1})
            .to_list()
        )
        lateness = sorted(d["lateness_seconds"] for d in fired)
        times = sorted(d["fired_at"] for d in fired)
        span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
        await _until(lambda: _no_backlog(runtime), deadline)
        return {
            "customers": customers,
            "seed_seconds": round(seed_seconds, 2),
            "due_in_window": moved.modified_count,
            "window_seconds": window_seconds,
            "lateness_p50_s": round(_quantile(lateness, 0.5), 4),
            "lateness_p99_s": round(_quantile(lateness, 0.99), 4),
            "lateness_max_s": round(lateness[-1], 4) if lateness else 0.0,
            "contact_due_per_s": round(len(fired) / span, 1) if span else float(len(fired)),
            "offered_per_s": round(hot / window_seconds, 1),
            "idle_cpu_fraction": round(idle_cpu, 4),
        }
    finally:
        await runtime.db.client.drop_database(runtime.db.name)
        await runtime.stop()
