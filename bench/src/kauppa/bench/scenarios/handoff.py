"""``make bench``: the handoff path, LeadQualified in -> LeadAssigned out, with the gate,
duplicate check, routing over a seeded roster, persistence, SLA timers and the outbox."""

from __future__ import annotations

from typing import Any

from kauppa.bench.harness import Scenario
from kauppa.contracts import Envelope, envelope, examples, topics
from kauppa.handoff.bootstrap import build_runtime
from kauppa.handoff.repository import SELLERS, seller_key
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.runtime import ServiceRuntime

BENCH_ORG = "org-bench"


def _leads(n: int) -> list[Envelope]:
    return [
        envelope(examples.lead_qualified(organisation_id=BENCH_ORG), source="bench")
        for _ in range(n)
    ]


async def _seed_roster(runtime: ServiceRuntime) -> None:
    """Eight sellers with room for everything: routing still weighs every rule."""
    await runtime.db[SELLERS].insert_many(
        [
            {
                "_id": seller_key(BENCH_ORG, f"bench-seller-{i}"),
                "seller_id": f"bench-seller-{i}",
                "organisation_id": BENCH_ORG,
                "name": f"Seller {i}",
                "regions": ["Uusimaa", "Pirkanmaa"],
                "products": ["crm", "erp"],
                "languages": ["fi", "sv"],
                "capacity": 1_000_000,
                "active": True,
                "absences": [],
                "open_leads": 0,
                "last_assigned_seq": 0,
            }
            for i in range(8)
        ]
    )


def _runtime(overrides: dict[str, Any]) -> ServiceRuntime:
    return build_runtime(HandoffSettings(**overrides))


SCENARIOS = [
    Scenario(
        name="handoff: LeadQualified -> LeadAssigned",
        build_runtime=_runtime,
        make_inputs=_leads,
        output_type="LeadAssigned",
        output_topic=topics.LEADS_HANDOFF.name,
        prepare=_seed_roster,
    )
]
