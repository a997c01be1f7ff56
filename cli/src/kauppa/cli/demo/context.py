"""One demo run's shared state and helpers: the running system's state file and business
clock, the Kafka producer, the event feed, the HTTP client, the plan and the tallies.
Every act is a function of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from kauppa.cli.demo.client import Api, DemoError
from kauppa.cli.demo.feed import EventFeed
from kauppa.cli.demo.plan import LeadPlan
from kauppa.cli.demo.webhook_receiver import WebhookReceiver
from kauppa.contracts import envelope, to_kafka
from kauppa.servicekit.clock import Clock, clock_from_settings
from kauppa.servicekit.settings import ClockSettings
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def load_state(state_file: Path) -> dict[str, Any]:
    if not state_file.exists():
        raise DemoError(
            "Kauppa is not running (no state file at "
            f"{state_file}). Start it first with `make run` in another terminal."
        )
    state: dict[str, Any] = json.loads(state_file.read_text())
    if not state.get("services"):
        raise DemoError(f"{state_file} names no services: is `kauppa run` still starting?")
    return state


def clock_of(state: dict[str, Any]) -> Clock:
    c = state.get("clock", {})
    return clock_from_settings(
        ClockSettings(
            speed=float(c.get("KAUPPA_CLOCK_SPEED", 1.0)),
            start=c.get("KAUPPA_CLOCK_START"),
            epoch=float(c["KAUPPA_CLOCK_EPOCH"]) if c.get("KAUPPA_CLOCK_EPOCH") else None,
        )
    )


@dataclass
class Demo:
    """One run: what the acts share. The orchestrator (``run.play``) opens ``feed``,
    ``producer``, ``api`` and ``hooks`` and fills ``plans``; the acts read the feed,
    update the plans and count in ``stats``."""

    state: dict[str, Any]
    leads: int
    seed: int
    console: Console
    followup_wait: float = 45.0
    timeout: float = 180.0
    digest_wait: float = 300.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.clock = clock_of(self.state)
        self.speed = float(self.state.get("clock", {}).get("KAUPPA_CLOCK_SPEED", 1.0))
        self.bootstrap: str = self.state["kafka_bootstrap_servers"]
        self.urls: dict[str, str] = self.state["services"]
        self.plans: list[LeadPlan] = []
        self.producer: AIOKafkaProducer | None = None
        self.feed: EventFeed | None = None
        self.api: Api | None = None
        self.hooks: WebhookReceiver | None = None  # a lead source's system hearing back (D3)

    # -------------------------------------------------------------- helpers

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description:<50}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )

    async def publish(self, events: list[Any], source: str) -> None:
        assert self.producer is not None
        futures = []
        for event in events:
            topic, key, value, headers = to_kafka(envelope(event, source=source))
            futures.append(await self.producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)

    def ev(self, type_name: str, **match: Any) -> list[Any]:
        assert self.feed is not None
        return self.feed.events(type_name, **match)

    async def gather_bounded(self, work: list[Awaitable[None]], bar: Any, prog: Progress) -> None:
        async def one(w: Awaitable[None]) -> None:
            await w
            prog.advance(bar)

        await asyncio.gather(*(one(w) for w in work))

    def vdate(self, days: int = 0) -> date:
        return (self.clock.now() + timedelta(days=days)).date()
