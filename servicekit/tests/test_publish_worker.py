"""The committer's background publisher: what was committed while a send was in flight
goes out in the next send, all of it, in commit order."""

from __future__ import annotations

import asyncio
from typing import Any

from kauppa.contracts import envelope, examples
from kauppa.servicekit.clock import SystemClock
from kauppa.servicekit.committer import Committed, Committer
from kauppa.servicekit.metrics import ServiceMetrics


class SlowPublisher:
    """Stands in for the broker side: records each send; the first one is held until
    released, as a send in flight is."""

    def __init__(self) -> None:
        self.sends: list[list[str]] = []
        self.release = asyncio.Event()

    async def publish_committed(self, events: Any, records: Any, rows: Any) -> None:
        self.sends.append([e.id for e in events])
        if len(self.sends) == 1:
            await self.release.wait()


def committed_batch(n: int) -> Committed:
    return Committed(events=[envelope(examples.lead_qualified(), source="t") for _ in range(n)])


async def test_batches_committed_during_a_send_go_out_together_in_order() -> None:
    publisher = SlowPublisher()
    committer = Committer(
        None,  # type: ignore[arg-type]  # publishing touches no database
        None,  # type: ignore[arg-type]
        SystemClock(),
        publisher,  # type: ignore[arg-type]
        ServiceMetrics("t"),
        "t",
    )
    committer.start_background_publishing(depth=8)
    first, *later = [committed_batch(2) for _ in range(4)]
    await committer.publish_soon(first)
    while not publisher.sends:  # the first send is in flight
        await asyncio.sleep(0)
    for batch in later:
        await committer.publish_soon(batch)
    publisher.release.set()
    await asyncio.wait_for(committer.stop_background_publishing(), 5)  # every batch done
    assert publisher.sends == [
        [e.id for e in first.events],
        [e.id for b in later for e in b.events],
    ]
