"""Issue #18: seller ids are per organisation on the roster; B cannot read, overwrite,
shadow or block A's seller; roster entries stored before are migrated at start."""

from __future__ import annotations

import pytest
from kauppa.devkit.testing.http import bearer
from kauppa.handoff.repository import migrate_roster

from .support import new_org

pytestmark = pytest.mark.integration


def _profile(org: str, name: str) -> dict[str, object]:
    return {"organisation_id": org, "name": name, "capacity": 5}


async def test_the_same_seller_id_in_two_organisations_is_two_sellers(service):
    rt, client = service
    org_a, org_b = new_org(), new_org()
    ops_a = bearer(rt.settings, "ops-a", "ops", organisation_id=org_a)
    ops_b = bearer(rt.settings, "ops-b", "ops", organisation_id=org_b)
    r = await client.put("/sellers/anna", json=_profile(org_a, "Anna A"), headers=ops_a)
    assert r.status_code == 201, r.text
    # B may not write into A; B's own "anna" neither fails nor touches A's.
    r = await client.put("/sellers/anna", json=_profile(org_a, "Mallory"), headers=ops_b)
    assert r.status_code == 403
    r = await client.put("/sellers/anna", json=_profile(org_b, "Anna B"), headers=ops_b)
    assert r.status_code == 201, r.text
    a = (await client.get("/sellers", headers=ops_a)).json()
    b = (await client.get("/sellers", headers=ops_b)).json()
    assert [(s["seller_id"], s["name"]) for s in a] == [("anna", "Anna A")]
    assert [(s["seller_id"], s["name"]) for s in b] == [("anna", "Anna B")]
    r = await client.get("/sellers", params={"organisation_id": org_a}, headers=ops_b)
    assert r.status_code == 403
    # An id that would reach a database path or a header is refused.
    r = await client.put("/sellers/a.b", json=_profile(org_a, "Dot"), headers=ops_a)
    assert r.status_code == 422


async def test_roster_entries_stored_before_get_per_organisation_keys(service):
    rt, client = service
    org = new_org()
    await rt.db["sellers"].insert_one(
        {"_id": "old-1", "organisation_id": org, "name": "Old", "capacity": 3, "active": True}
    )
    await migrate_roster(rt.db)
    await migrate_roster(rt.db)
    assert await rt.db["sellers"].find_one({"_id": "old-1"}) is None
    ops = bearer(rt.settings, "ops", "ops", organisation_id=org)
    listed = (await client.get("/sellers", headers=ops)).json()
    assert [s["seller_id"] for s in listed] == ["old-1"]


async def test_a_deal_opened_after_the_erasure_erases_its_lead(service):
    """Issue #18: CustomerErased (by customer id only) processed before the DealOpened
    that links the lead to that customer: the lead loses the person when linked."""
    from datetime import UTC, datetime

    from kauppa.contracts import CustomerErased, DealOpened, envelope, examples
    from kauppa.handoff.repository import LEADS

    from .support import seed_sellers, seller_doc

    rt, _client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    lead = examples.lead_qualified(organisation_id=org)
    assert lead.prospect.contact is not None and lead.prospect.contact.name
    await rt.pipeline.process_envelopes([envelope(lead, source="t")])
    erased = CustomerErased(
        customer_id="cust-late",
        organisation_id=org,
        requested_by="dpo",
        erased_at=datetime.now(UTC),
    )
    await rt.pipeline.process_envelopes([envelope(erased, source="t")])
    opened = DealOpened(
        deal_id="deal-late",
        lead_id=lead.lead_id,
        organisation_id=org,
        customer_id="cust-late",
        seller_id="s-1",
        prospect=lead.prospect,
        stage="qualified",
        opened_at=datetime.now(UTC),
    )
    await rt.pipeline.process_envelopes([envelope(opened, source="closing")])
    doc = await rt.db[LEADS].find_one({"_id": lead.lead_id})
    assert doc is not None and doc.get("erased_at") is not None
    assert lead.prospect.contact.name not in str(doc)
