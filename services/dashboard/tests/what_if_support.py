"""A small routing history at a real handoff for the dashboard's what-if tests: seller
"fi-a" speaks Finnish, "sv-b" Swedish; two Finnish leads go to fi-a, one Swedish to sv-b.
Without fi-a, exactly its two leads change owner, to nobody."""

from __future__ import annotations

import json
import uuid

import httpx
from kauppa.contracts import LeadQualified, examples
from kauppa.devkit.testing.http import bearer
from kauppa.servicekit.runtime import ServiceRuntime

SELLERS = {"fi-a": {"languages": ["fi"]}, "sv-b": {"languages": ["sv"]}}
LOCALES = ["fi-FI", "fi-FI", "sv-FI"]
PROPOSAL = {"remove": ["fi-a"]}


async def seed_routing_history(handoff: httpx.AsyncClient, rt: ServiceRuntime, org: str) -> None:
    """The sellers, then the leads taken in (routed at once) through handoff's API."""
    ops = bearer(rt.settings, "ops-1", "ops", organisation_id=org)
    for seller_id, profile in SELLERS.items():
        r = await handoff.put(
            f"/sellers/{seller_id}", json={"organisation_id": org, **profile}, headers=ops
        )
        assert r.status_code == 201, r.text
    for locale in LOCALES:
        lead = examples.lead_qualified(
            organisation_id=org, prospect=examples.prospect(locale=locale)
        )
        body = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": LeadQualified.ce_type(),
            "source": "https://crm.example/upstream",
            "data": lead.model_dump(mode="json"),
        }
        r = await handoff.post(
            "/intake/lead-qualified",
            content=json.dumps(body),
            headers={
                "content-type": "application/cloudevents+json",
                **bearer(rt.settings, "crm", "intake"),
            },
        )
        assert r.status_code == 202, r.text
