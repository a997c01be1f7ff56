"""Tenant scope on the HTTP API, on a real broker and mongod: a token bound to an
organisation finds only its own confirmations (another's are 404, even to the same
seller id), lists only its own, and reads or sets only its own policy (403); a token of
that organisation and a platform token still work."""

from __future__ import annotations

import pytest
from kauppa.confirmation.bootstrap import build_service_app
from kauppa.confirmation.repository import CONFIRMATIONS, INDEXES, POLICIES
from kauppa.contracts import topics
from kauppa.devkit.testing import TopicReader
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.mongo import ensure_indexes

from .conftest import deal_for, new_org, schedule_confirmations

pytestmark = pytest.mark.integration


async def test_a_tenant_token_acts_in_its_own_organisation_only(
    start_service, smtp, kafka_settings
):
    org_a, org_b = new_org(), new_org()
    review = {"policy": "seller_review"}  # nothing goes out without an approval
    rt = await start_service({org_a: review, org_b: review})
    deal_a, deal_b = deal_for(org_a), deal_for(org_b)
    seller_id = deal_a.seller.seller_id
    assert deal_b.seller.seller_id == seller_id, "the same seller id in both organisations"

    def token(subject: str, role: str, org: str | None = None) -> dict[str, str]:
        return bearer(rt.settings, subject, role, organisation_id=org)

    seller_a = token(seller_id, "seller", org_a)
    ops_a = token("ops-a", "ops", org_a)
    platform_seller = token(seller_id, "seller")
    platform = token("ops-x", "ops")
    app = build_service_app(rt, manage_runtime=False)
    mine, theirs = f"/confirmations/{deal_a.deal_id}", f"/confirmations/{deal_b.deal_id}"
    async with (
        asgi_client(app) as http,
        TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader,
    ):
        await schedule_confirmations(kafka_settings.bootstrap_servers, reader, deal_a, deal_b)

        # A deal's confirmations
        r = await http.get(mine, headers=seller_a)
        assert r.status_code == 200 and [c["organisation_id"] for c in r.json()] == [org_a]
        for headers in (seller_a, ops_a):
            r = await http.get(theirs, headers=headers)
            assert r.status_code == 404 and r.json()["detail"] == "no such confirmation"
        r = await http.get(theirs, headers=platform)
        assert r.status_code == 200 and [c["organisation_id"] for c in r.json()] == [org_b]
        assert (await http.get("/confirmations/deal-unknown", headers=ops_a)).status_code == 404
        assert (await http.get("/confirmations/deal-unknown", headers=platform)).json() == []

        # The preview
        assert (await http.get(f"{mine}/versions/1/preview", headers=seller_a)).status_code == 200
        for headers in (seller_a, ops_a):
            r = await http.get(f"{theirs}/versions/1/preview", headers=headers)
            assert r.status_code == 404
        r = await http.get(f"{theirs}/versions/1/preview", headers=platform_seller)
        assert r.status_code == 200

        # The review: note, hold, approve another organisation's draft: 404, unchanged
        for action, body in (("note", {"note": "Hei!"}), ("hold", None), ("approve", None)):
            r = await http.post(f"{theirs}/versions/1/{action}", json=body, headers=seller_a)
            assert r.status_code == 404, action
        doc = await rt.db[CONFIRMATIONS].find_one({"_id": f"{deal_b.deal_id}:v1"})
        assert doc["state"] == "awaiting_approval" and doc["note"] is None
        r = await http.post(f"{mine}/versions/1/note", json={"note": "Hei!"}, headers=seller_a)
        assert r.status_code == 200 and r.json()["note"] == "Hei!"
        r = await http.post(f"{mine}/versions/1/hold", headers=seller_a)
        assert r.status_code == 200 and r.json()["state"] == "held"
        r = await http.post(f"{theirs}/versions/1/hold", headers=platform_seller)
        assert r.status_code == 200 and r.json()["state"] == "held"

        # Listing by state: a tenant sees its own organisation's only
        r = await http.get("/confirmations?state=held&limit=1000", headers=ops_a)
        assert r.status_code == 200
        assert {c["organisation_id"] for c in r.json()} == {org_a}
        assert deal_a.deal_id in {c["deal_id"] for c in r.json()}
        r = await http.get("/confirmations?state=held&limit=1000", headers=platform)
        assert {deal_a.deal_id, deal_b.deal_id} <= {c["deal_id"] for c in r.json()}

        # Policies: another organisation's is refused (403), its own and a platform's work
        assert (await http.get(f"/policies/{org_b}", headers=ops_a)).status_code == 403
        r = await http.put(f"/policies/{org_b}", json={"policy": "immediate"}, headers=ops_a)
        assert r.status_code == 403
        assert await rt.db[POLICIES].find_one({"_id": org_b}) is None
        r = await http.put(f"/policies/{org_a}", json={"policy": "immediate"}, headers=ops_a)
        assert r.status_code == 200
        assert (await http.get(f"/policies/{org_a}", headers=ops_a)).json()["policy"] == "immediate"
        r = await http.put(f"/policies/{org_b}", json={"policy": "immediate"}, headers=platform)
        assert r.status_code == 200
        assert (await http.get(f"/policies/{org_b}", headers=platform)).json()[
            "policy"
        ] == "immediate"
    assert not smtp.for_deal(deal_a.deal_id) and not smtp.for_deal(deal_b.deal_id)

    # Seller ids are per organisation: the index an earlier version built on the seller
    # id alone is dropped at start-up; the seller's index leads with the organisation.
    await rt.db[CONFIRMATIONS].create_index([("seller_id", 1), ("state", 1)], name="seller_state")
    await ensure_indexes(rt.db, INDEXES)
    indexes = {ix["name"]: ix async for ix in await rt.db[CONFIRMATIONS].list_indexes()}
    assert "seller_state" not in indexes
    assert list(indexes["organisation_seller_state"]["key"]) == [
        "organisation_id",
        "seller_id",
        "state",
    ]
