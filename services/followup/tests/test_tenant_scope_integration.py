"""Tenant scope on the HTTP API, on a real broker and mongod: a token bound to an
organisation names only its own (403), finds only its own customers and campaigns (404)
and lists only its own; a token of that organisation and a platform token still work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from kauppa.bench.scenarios.followup import seed_customers
from kauppa.followup.bootstrap import FollowupRuntime
from kauppa.followup.store import CONTACTS, CUSTOMERS, INDEXES, REPORTS
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.mongo import ensure_indexes

from .support import START, http, started, token

pytestmark = pytest.mark.integration


@dataclass
class Tenants:
    rt: FollowupRuntime
    tag: str
    org_a: str
    org_b: str
    a: list[str]  # customer ids of org A
    b: list[str]  # customer ids of org B
    seller: str  # one seller id with contacts in both organisations


async def two_tenants(settings_for, runtimes) -> Tenants:
    rt = await started(
        settings_for, runtimes, ManualClock(START), consume_topics=["kauppa.leads.qualified"]
    )
    tag = uuid.uuid4().hex[:8]
    org_a, org_b = f"org-a-{tag}", f"org-b-{tag}"
    ids = {}
    for org in (org_a, org_b):
        ids[org] = await seed_customers(
            rt.db,
            3,
            due_at=lambda i: START + timedelta(days=10 + i),
            last_contact_at=START - timedelta(days=30),
            prefix=f"t{tag}{org[4]}",
            organisation_id=org,
            attributes=lambda i: {"industry": "retail", "tags": [f"tenant-{tag}"]},
        )
    seller = f"seller-{tag}"
    await rt.db[CONTACTS].update_many(
        {"customer_id": {"$in": ids[org_a] + ids[org_b]}}, {"$set": {"seller_id": seller}}
    )
    # The customers' own seller (a seller sees and logs on their own customers only).
    await rt.db[CUSTOMERS].update_many(
        {"_id": {"$in": ids[org_a] + ids[org_b]}}, {"$set": {"seller_id": "seller-a"}}
    )
    return Tenants(rt, tag, org_a, org_b, ids[org_a], ids[org_b], seller)


async def test_a_tenant_finds_only_its_own_customers(infra, settings_for, runtimes):
    t = await two_tenants(settings_for, runtimes)
    ops_a = token(t.rt, "ops-a", "ops", organisation_id=t.org_a)
    seller_a = token(t.rt, "seller-a", "seller", organisation_id=t.org_a)
    platform = token(t.rt, "ops-x", "ops")
    platform_seller = token(t.rt, "seller-a", "seller")
    mine, theirs = t.a[0], t.b[0]
    async with http(t.rt) as api:
        # the record
        r = await api.get(f"/customers/{mine}", headers=ops_a)
        assert r.status_code == 200 and r.json()["organisation_id"] == t.org_a
        r = await api.get(f"/customers/{theirs}", headers=ops_a)
        assert r.status_code == 404 and r.json()["detail"] == "no such customer"
        assert (await api.get(f"/customers/{theirs}", headers=platform)).status_code == 200

        # the history (reports carry no organisation: the customer record decides)
        r = await api.get(f"/customers/{mine}/history", headers=ops_a)
        assert r.status_code == 200 and len(r.json()["contacts"]) == 1
        r = await api.get(f"/customers/{theirs}/history", headers=ops_a)
        assert r.status_code == 404
        r = await api.get(f"/customers/{theirs}/history", headers=platform)
        assert r.status_code == 200 and len(r.json()["contacts"]) == 1
        unknown = f"nobody-{t.tag}"
        assert (await api.get(f"/customers/{unknown}/history", headers=ops_a)).status_code == 404
        assert (await api.get(f"/customers/{unknown}/history", headers=platform)).status_code == 404

        # logging a contact
        report = {"delivery_ok": True, "next_contact_on": "2026-04-01"}
        r = await api.post(f"/customers/{theirs}/contacts", json=report, headers=seller_a)
        assert r.status_code == 404
        assert await t.rt.db[REPORTS].count_documents({"customer_id": theirs}) == 0
        r = await api.post(f"/customers/{mine}/contacts", json=report, headers=seller_a)
        assert r.status_code == 201, r.text
        r = await api.post(f"/customers/{theirs}/contacts", json=report, headers=platform_seller)
        assert r.status_code == 201, r.text
        # One subject name and one Idempotency-Key in two organisations: two reports.
        same_key = {"Idempotency-Key": f"key-{t.tag}"}
        seller_b = token(t.rt, "seller-a", "seller", organisation_id=t.org_b)
        for customer, seller in ((t.a[1], seller_a), (t.b[1], seller_b)):
            r = await api.post(
                f"/customers/{customer}/contacts", json=report, headers={**seller, **same_key}
            )
            assert r.status_code == 201, r.text
        both = {"customer_id": {"$in": [t.a[1], t.b[1]]}}
        assert await t.rt.db[REPORTS].count_documents(both) == 2

        # classifying: a foreign organisation named (403), a foreign customer (404)
        attrs = {"attributes": {"industry": "energy"}}
        r = await api.put(
            f"/customers/{theirs}/attributes",
            json={"organisation_id": t.org_b, **attrs},
            headers=ops_a,
        )
        assert r.status_code == 403
        r = await api.put(
            f"/customers/{theirs}/attributes",
            json={"organisation_id": t.org_a, **attrs},
            headers=ops_a,
        )
        assert r.status_code == 404
        theirs_now = await t.rt.db[CUSTOMERS].find_one({"_id": theirs})
        assert theirs_now["attributes"]["industry"] == "retail", "left unchanged"
        r = await api.put(
            f"/customers/{mine}/attributes",
            json={"organisation_id": t.org_a, **attrs},
            headers=ops_a,
        )
        assert r.status_code == 200, r.text
        r = await api.put(
            f"/customers/{theirs}/attributes",
            json={"organisation_id": t.org_b, **attrs},
            headers=platform,
        )
        assert r.status_code == 200, r.text


async def test_a_tenant_queries_and_campaigns_in_its_own_organisation(
    infra, settings_for, runtimes
):
    t = await two_tenants(settings_for, runtimes)
    ops_a = token(t.rt, "ops-a", "ops", organisation_id=t.org_a)
    ops_b = token(t.rt, "ops-b", "ops", organisation_id=t.org_b)
    platform = token(t.rt, "ops-x", "ops")
    criteria = {"industries": ["retail"], "tags": [f"tenant-{t.tag}"]}
    async with http(t.rt) as api:
        query = {"organisation_id": t.org_b, "criteria": criteria}
        assert (await api.post("/segments/query", json=query, headers=ops_a)).status_code == 403
        r = await api.post(
            "/segments/query", json={**query, "organisation_id": t.org_a}, headers=ops_a
        )
        assert r.status_code == 200 and r.json()["count"] == 3
        assert {c["customer_id"] for c in r.json()["customers"]} == set(t.a)
        r = await api.post("/segments/query", json=query, headers=platform)
        assert r.status_code == 200 and {c["customer_id"] for c in r.json()["customers"]} == set(
            t.b
        )

        command = {
            "campaign_id": f"cmp-{t.tag}",
            "organisation_id": t.org_b,
            "criteria": criteria,
            "reason": "Spring offer",
            "due_on": "2026-05-04",
        }
        assert (await api.post("/campaigns", json=command, headers=ops_a)).status_code == 403
        r = await api.post(
            "/campaigns", json={**command, "organisation_id": t.org_a}, headers=ops_a
        )
        assert r.status_code == 202 and r.json()["matched"] == 3
        # the same id from another organisation: no progress of A's campaign leaks
        r = await api.post("/campaigns", json=command, headers=ops_b)
        assert r.status_code == 404 and r.json()["detail"] == "no such campaign"

        path = f"/campaigns/{command['campaign_id']}"
        r = await api.get(path, headers=ops_a)
        assert r.status_code == 200 and r.json()["organisation_id"] == t.org_a
        assert (await api.get(path, headers=ops_b)).status_code == 404
        assert (await api.get(path, headers=platform)).status_code == 200


async def test_a_tenant_lists_and_audits_its_own_organisation(infra, settings_for, runtimes):
    t = await two_tenants(settings_for, runtimes)
    ops_a = token(t.rt, "ops-a", "ops", organisation_id=t.org_a)
    ops_b = token(t.rt, "ops-b", "ops", organisation_id=t.org_b)
    platform = token(t.rt, "ops-x", "ops")
    async with http(t.rt) as api:
        agenda = f"/sellers/{t.seller}/contacts"
        r = await api.get(agenda, headers=ops_a)
        assert r.status_code == 200
        assert {c["customer_id"] for c in r.json()["contacts"]} == set(t.a)
        # Seller ids are per organisation: one id in A and B is two sellers, and a
        # platform token names whose agenda it reads (never both merged).
        r = await api.get(agenda, headers=ops_b)
        assert {c["customer_id"] for c in r.json()["contacts"]} == set(t.b)
        assert (await api.get(agenda, headers=platform)).status_code == 422
        for org, mine in ((t.org_a, t.a), (t.org_b, t.b)):
            r = await api.get(agenda, params={"organisation_id": org}, headers=platform)
            assert r.status_code == 200 and r.json()["organisation_id"] == org
            assert {c["customer_id"] for c in r.json()["contacts"]} == set(mine)
        r = await api.get(agenda, params={"organisation_id": t.org_b}, headers=ops_a)
        assert r.status_code == 403
        # The seller of that id in A, bound to A, reads A's agenda only.
        seller_in_a = token(t.rt, t.seller, "seller", organisation_id=t.org_a)
        r = await api.get(agenda, headers=seller_in_a)
        assert {c["customer_id"] for c in r.json()["contacts"]} == set(t.a)

        # One customer without a next contact in each organisation: each tenant's audit
        # finds (and repairs) its own only.
        await t.rt.db[CUSTOMERS].update_many(
            {"_id": {"$in": [t.a[0], t.b[0]]}},
            {"$set": {"next_contact_due_at": None, "next_contact": None}},
        )
        r = await api.post("/audit", headers=ops_a)
        assert r.status_code == 200, r.text
        assert r.json()["violations"]["missing"] == 1 and r.json()["repaired"] == 1
        assert (await t.rt.db[CUSTOMERS].find_one({"_id": t.b[0]}))["next_contact"] is None
        latest = (await api.get("/audit", headers=ops_a)).json()
        assert latest["organisation_id"] == t.org_a and latest["total"] == 1
        assert (await api.get("/audit", headers=ops_b)).json()["total"] is None, "B ran none"
        assert (await api.get("/audit", headers=platform)).json().get("organisation_id") is None
        r = await api.post("/audit", headers=ops_b)
        assert r.json()["violations"]["missing"] == 1 and r.json()["repaired"] == 1
    for cid in (t.a[0], t.b[0]):
        assert (await t.rt.db[CUSTOMERS].find_one({"_id": cid}))["next_contact"] is not None


async def test_a_seller_sees_and_logs_on_their_own_customers_only(infra, settings_for, runtimes):
    """Issue #18: within an organisation, another seller's customer does not exist to a
    seller; a ``contact_id`` of another customer closes nothing; the report id an
    Idempotency-Key derives is scoped to the customer."""
    t = await two_tenants(settings_for, runtimes)
    owner = token(t.rt, "seller-a", "seller", organisation_id=t.org_a)
    other = token(t.rt, "seller-z", "seller", organisation_id=t.org_a)
    mine, second = t.a[0], t.a[1]
    report = {"delivery_ok": True, "next_contact_on": "2026-04-01"}
    async with http(t.rt) as api:
        assert (await api.get(f"/customers/{mine}", headers=other)).status_code == 404
        assert (await api.get(f"/customers/{mine}/history", headers=other)).status_code == 404
        r = await api.post(f"/customers/{mine}/contacts", json=report, headers=other)
        assert r.status_code == 404
        assert await t.rt.db[REPORTS].count_documents({"customer_id": mine}) == 0
        r = await api.get("/sellers/seller-a/contacts", headers=other)
        assert r.status_code == 403

        # The owner names a scheduled contact of another organisation's customer.
        theirs = await t.rt.db[CONTACTS].find_one({"customer_id": t.b[0]})
        r = await api.post(
            f"/customers/{mine}/contacts",
            json={**report, "contact_id": theirs["_id"]},
            headers=owner,
        )
        assert r.status_code == 201, r.text
        after = await t.rt.db[CONTACTS].find_one({"_id": theirs["_id"]})
        assert after["state"] == theirs["state"], "another organisation's contact untouched"

        # One Idempotency-Key on two customers: two reports, not one replayed.
        key = {"Idempotency-Key": f"k-{t.tag}"}
        first = await api.post(
            f"/customers/{second}/contacts", json=report, headers={**owner, **key}
        )
        third = await api.post(
            f"/customers/{t.a[2]}/contacts", json=report, headers={**owner, **key}
        )
        assert first.status_code == 201 and third.status_code == 201, third.text
        assert await t.rt.db[REPORTS].count_documents({"customer_id": t.a[2]}) == 1


async def test_request_strings_and_lists_are_bounded(infra, settings_for, runtimes):
    """Issue #18: a request model's strings and lists have bounds (422 past them)."""
    t = await two_tenants(settings_for, runtimes)
    owner = token(t.rt, "seller-a", "seller", organisation_id=t.org_a)
    async with http(t.rt) as api:
        for body in (
            {"notes": "n" * 5000},
            {"problems": ["p"] * 51},
            {"problems": ["p" * 2001]},
        ):
            r = await api.post(f"/customers/{t.a[0]}/contacts", json=body, headers=owner)
            assert r.status_code == 422, body
        assert await t.rt.db[REPORTS].count_documents({"customer_id": t.a[0]}) == 0


async def test_the_agenda_index_is_per_organisation_and_the_old_one_goes(
    infra, settings_for, runtimes
):
    """The index an earlier version built on the seller id alone is dropped at start-up
    (``retired``); the agenda's index leads with the organisation."""
    t = await two_tenants(settings_for, runtimes)
    await t.rt.db[CONTACTS].create_index(
        [("seller_id", 1), ("state", 1), ("due_at", 1)], name="seller_agenda"
    )
    await ensure_indexes(t.rt.db, INDEXES)
    indexes = {ix["name"]: ix async for ix in await t.rt.db[CONTACTS].list_indexes()}
    assert "seller_agenda" not in indexes
    assert list(indexes["organisation_seller_agenda"]["key"])[:2] == [
        "organisation_id",
        "seller_id",
    ]
