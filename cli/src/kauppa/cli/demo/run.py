"""The orchestrator: checks the system is up, opens the feed, the producer and the HTTP
client, plays the acts in order and prints the summary. ``run_demo`` is `kauppa demo`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from kauppa.cli.demo.acts.campaign import campaign
from kauppa.cli.demo.acts.deals import work_deals
from kauppa.cli.demo.acts.deliveries import confirmations, deliveries
from kauppa.cli.demo.acts.feedback import feedback_calls
from kauppa.cli.demo.acts.leads import give_verdicts, send_leads
from kauppa.cli.demo.acts.ops import setup_ops
from kauppa.cli.demo.acts.summary import summary
from kauppa.cli.demo.cast import ORGS, SOURCES
from kauppa.cli.demo.client import Api, DemoError
from kauppa.cli.demo.context import Demo, load_state
from kauppa.cli.demo.feed import WANTED, EventFeed
from kauppa.cli.demo.plan import make_plan
from kauppa.cli.demo.webhook_receiver import subscribe_receiver
from rich.console import Console


async def play(demo: Demo) -> dict[str, Any]:
    started = time.monotonic()
    await preflight(demo)
    demo.feed = EventFeed(demo.bootstrap, set(WANTED))
    await demo.feed.start()
    demo.producer = AIOKafkaProducer(
        bootstrap_servers=demo.bootstrap, enable_idempotence=False, linger_ms=5, acks="all"
    )
    await demo.producer.start()
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    try:
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            demo.api = Api(client, demo.urls, asyncio.Semaphore(8))
            demo.plans = make_plan(demo.leads, demo.seed, demo.run_id, demo.clock.now())
            demo.console.print(
                f"Demo run [bold]{demo.run_id}[/] (seed {demo.seed}): {len(demo.plans)} "
                f"leads; business clock {demo.clock.now():%a %Y-%m-%d %H:%M} UTC, "
                f"{demo.speed:g}x real time."
            )
            await setup_ops(demo)
            partner = next(s for s in SOURCES if s.key == "partner")
            demo.hooks = await subscribe_receiver(
                demo.api, ORGS[0].org_id, partner.system, partner.partner
            )
            await send_leads(demo)
            await give_verdicts(demo)
            await work_deals(demo)
            await confirmations(demo)
            await deliveries(demo)
            await feedback_calls(demo)
            await campaign(demo)
            facts = await summary(demo, time.monotonic() - started)
    finally:
        await demo.producer.stop()
        await demo.feed.stop()
        if demo.hooks is not None:
            await demo.hooks.stop()
    return facts


async def preflight(demo: Demo) -> None:
    async with httpx.AsyncClient(timeout=3) as client:
        for name in ("handoff", "closing", "confirmation", "followup"):
            url = demo.urls.get(name)
            if url is None:
                raise DemoError(f"the running system has no {name} service")
            try:
                r = await client.get(f"{url}/health/ready")
            except httpx.HTTPError as exc:
                raise DemoError(
                    f"{name} does not answer at {url} ({type(exc).__name__}). Is "
                    "`make run` running? Start it in another terminal first."
                ) from exc
            if r.status_code != 200:
                raise DemoError(f"{name} is not ready: {r.text[:200]}")


def run_demo(
    console: Console,
    state_file: Path,
    leads: int,
    seed: int,
    followup_wait: float,
    timeout: float,
    digest_wait: float = 300.0,
) -> dict[str, Any]:
    state = load_state(state_file)
    demo = Demo(
        state,
        leads,
        seed,
        console,
        followup_wait=followup_wait,
        timeout=timeout,
        digest_wait=digest_wait,
    )
    return asyncio.run(play(demo))
