"""``make bench`` scenarios: an accepted lead in, a deal opened out (batched handler)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kauppa.bench.harness import Scenario
from kauppa.closing.bootstrap import build_runtime
from kauppa.closing.settings import ClosingSettings
from kauppa.contracts import Envelope, LeadAccepted, LeadSource, envelope, examples
from kauppa.contracts.topics import DEALS


def accepted_leads(n: int) -> list[Envelope]:
    now = datetime.now(UTC)
    source = LeadSource(system="bench", booker="booker-1")
    prospect = examples.prospect()
    return [
        envelope(
            LeadAccepted(
                lead_id=f"lead-{uuid.uuid4().hex[:16]}",
                organisation_id="org-bench",
                seller_id=f"seller-{i % 20}",
                source=source,
                prospect=prospect,
                product_interest=["crm"],
                accepted_at=now,
            ),
            source="bench",
        )
        for i in range(n)
    ]


def _runtime(overrides: dict[str, Any]) -> Any:
    return build_runtime(ClosingSettings(**overrides))


SCENARIOS = [
    Scenario(
        name="closing: LeadAccepted -> DealOpened",
        build_runtime=_runtime,
        make_inputs=accepted_leads,
        output_type="DealOpened",
        output_topic=DEALS.name,
    )
]
