"""Issue #18: seller ids are per organisation on the roster; B cannot read, overwrite,
shadow or block A's seller; roster entries stored before are migrated at start."""

from __future__ import annotations

import pytest
from kauppa.handoff.store import migrate_roster
from kauppa.servicekit.testing.http import bearer

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
