"""The demo's eyes: Kauppa's topics read from their current end, as any consumer could,
and waiting until the flow has moved on."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Self

from aiokafka import ConsumerRecord
from kauppa.cli.demo.client import DemoError
from kauppa.contracts import DecodeError, Envelope, event_class, event_class_by_name, from_kafka
from kauppa.contracts.cloudevents import header_map
from kauppa.servicekit.tail import TopicTail

# What the demo waits for, as any consumer of Kauppa's topics could.
WANTED = frozenset(
    {
        "LeadAssigned",
        "LeadRejected",
        "LeadLinkedAsDuplicate",
        "LeadAccepted",
        "LeadReturned",
        "DealOpened",
        "DealClosed",
        "DealLost",
        "ConfirmationScheduled",
        "ConfirmationSent",
        "ConfirmationFailed",
        "ContactDue",
        "NextContactScheduled",
        "ProblemReported",
        "ProblemResolved",
        "FeedbackCallCompleted",
        "SegmentCampaignStarted",
        "SegmentCampaignCompleted",
    }
)


class EventFeed(TopicTail):
    """Reads Kauppa's topics from their current end (as any consumer could) and keeps the
    events the demo waits for, indexed by type: the topics are those the wanted events are
    published to."""

    def __init__(self, bootstrap: str, wanted: set[str]) -> None:
        topics: set[str] = set()
        for name in wanted:
            cls = event_class_by_name(name)
            if cls is None:
                raise ValueError(f"{name} is not a contract event")
            topics.add(cls.topic)
        super().__init__(bootstrap, sorted(topics), fetch_max_wait_ms=20, max_records=2000)
        self.wanted = wanted
        self.by_type: dict[str, list[Any]] = defaultdict(list)
        self._seen: set[str] = set()

    async def start(self) -> Self:
        try:
            return await super().start()
        except LookupError as exc:
            raise DemoError(f"{exc}: is `kauppa run` running?") from exc

    def take(self, records: list[ConsumerRecord[Any, Any]], arrived: float) -> None:
        for m in records:
            headers = list(m.headers)
            # Decode only what we wait for (the header names the event's class).
            cls = event_class(header_map(headers).get("ce_type", ""))
            if cls is None or cls.type_name not in self.wanted:
                continue
            try:
                env: Envelope = from_kafka(headers, m.value)
            except DecodeError:
                continue
            if env.id in self._seen:
                continue  # a relayed copy of an event already seen
            self._seen.add(env.id)
            self.by_type[env.event.type_name].append(env.event)

    def events(self, type_name: str, **match: Any) -> list[Any]:
        return [
            e
            for e in self.by_type.get(type_name, [])
            if all(getattr(e, k, None) == v for k, v in match.items())
        ]


async def until(
    condition: Callable[[], bool],
    timeout: float,
    on_tick: Callable[[], None] | None = None,
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if on_tick:
            on_tick()
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


async def until_count(
    count: Callable[[], int],
    total: int,
    timeout: float,
    on_count: Callable[[int], None] | None = None,
) -> bool:
    """``until`` the items done reach ``total``: ``count`` is called once per poll and its
    result handed to ``on_count`` (a progress bar)."""
    done = 0

    def tick() -> None:
        nonlocal done
        done = count()
        if on_count:
            on_count(done)

    return await until(lambda: done >= total, timeout, tick)
