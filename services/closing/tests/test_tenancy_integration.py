"""Issue #18: seller ids are per organisation; what one tenant's ops put, another's can
neither read nor overwrite, and the card that signs A's confirmations is A's."""

from __future__ import annotations

import pytest
from kauppa.contracts import examples
from kauppa.devkit.testing.http import bearer

from .conftest import ClosingFactory, close_body

pytestmark = pytest.mark.integration


async def test_seller_cards_are_per_organisation(closing: ClosingFactory):
    svc = await closing()
    settings = svc.runtime.settings
    ops_a = bearer(settings, "ops-a", "ops", organisation_id="org-demo")
    ops_b = bearer(settings, "ops-b", "ops", organisation_id="org-b")
    card_a = examples.seller_card(seller_id="seller-1", name="Anna A").model_dump(mode="json")
    card_b = examples.seller_card(seller_id="seller-1", name="Mallory B").model_dump(mode="json")
    r = await svc.client.put("/sellers/seller-1/card", json=card_a, headers=ops_a)
    assert r.status_code == 200, r.text
    # B reads its own (none), not A's; naming A's organisation is refused.
    assert (await svc.client.get("/sellers/seller-1/card", headers=ops_b)).status_code == 404
    r = await svc.client.get(
        "/sellers/seller-1/card", params={"organisation_id": "org-demo"}, headers=ops_b
    )
    assert r.status_code == 403
    r = await svc.client.put(
        "/sellers/seller-1/card",
        params={"organisation_id": "org-demo"},
        json=card_b,
        headers=ops_b,
    )
    assert r.status_code == 403
    # B's own seller-1 is another seller: it does not shadow A's.
    assert (
        await svc.client.put("/sellers/seller-1/card", json=card_b, headers=ops_b)
    ).status_code == 200
    r = await svc.client.get("/sellers/seller-1/card", headers=ops_a)
    assert r.status_code == 200 and r.json()["name"] == "Anna A"
    # Another seller of A does not read seller-1's card; seller-1 does.
    other = bearer(settings, "seller-2", "seller", organisation_id="org-demo")
    own = bearer(settings, "seller-1", "seller", organisation_id="org-demo")
    assert (await svc.client.get("/sellers/seller-1/card", headers=other)).status_code == 403
    assert (await svc.client.get("/sellers/seller-1/card", headers=own)).status_code == 200
    # The close of A's deal is signed with A's card.
    deal_id, _ = await svc.accept()
    r = await svc.post(f"/deals/{deal_id}/close", close_body())
    assert r.status_code == 201, r.text
    deal = await svc.runtime.db["deals"].find_one({"_id": deal_id})
    assert deal is not None and deal["seller_card"]["name"] == "Anna A"


async def test_cards_stored_before_are_migrated_at_start(closing: ClosingFactory):
    svc = await closing()
    db = svc.runtime.db
    deal_id, _ = await svc.accept()  # seller-1 has a deal in org-demo
    card = examples.seller_card(seller_id="seller-1").model_dump(mode="json")
    await db["sellers"].insert_many(
        [{"_id": "seller-1", "card": card}, {"_id": "nobody", "card": card}]
    )
    from kauppa.closing.repository import migrate_seller_cards

    await migrate_seller_cards(db)
    await migrate_seller_cards(db)  # idempotent
    migrated = await db["sellers"].find_one({"_id": "org-demo/seller-1"})
    assert migrated is not None and migrated["organisation_id"] == "org-demo"
    assert await db["sellers"].find_one({"_id": "seller-1"}) is None
    orphan = await db["sellers"].find_one({"_id": "nobody"})
    assert orphan is not None and orphan["organisation_id"] is None
    r = await svc.post(f"/deals/{deal_id}/close", close_body())
    assert r.status_code == 201, r.text


async def test_the_idempotency_key_fingerprint_covers_the_query(closing: ClosingFactory):
    """The same key and body with another query string is another request: refused, not
    answered with the first one's result."""
    svc = await closing()
    card = examples.seller_card(seller_id="seller-1").model_dump(mode="json")
    headers = {**svc.ops, "Idempotency-Key": "card-1"}
    r = await svc.client.put(
        "/sellers/seller-1/card", params={"organisation_id": "org-a"}, json=card, headers=headers
    )
    assert r.status_code == 200, r.text
    r = await svc.client.put(
        "/sellers/seller-1/card", params={"organisation_id": "org-b"}, json=card, headers=headers
    )
    assert r.status_code == 422, r.text
    assert await svc.runtime.db["sellers"].find_one({"organisation_id": "org-b"}) is None


async def test_ids_that_become_field_paths_and_urls_are_validated(closing: ClosingFactory):
    """``offer_ref`` keys the deal's offers (a MongoDB field path): ``a.b`` is refused and
    the deal can still be closed; a ``javascript:`` signed-copy link is refused."""
    svc = await closing()
    await svc.put_card()
    deal_id, _ = await svc.accept()
    offer = {
        "offer_ref": "OF.1",
        "lines": [
            {
                "product_code": "CRM-PRO",
                "quantity": "1",
                "unit_price": {"amount": "10", "currency": "EUR"},
            }
        ],
        "vat_rate": "25.5",
        "valid_until": "2030-01-01",
    }
    r = await svc.post(f"/deals/{deal_id}/offers", offer)
    assert r.status_code == 422, r.text
    r = await svc.post(f"/deals/{deal_id}/offers", {**offer, "offer_ref": "OF-1"})
    assert r.status_code == 201, r.text
    body = close_body()
    body["signature"] = {**body["signature"], "document_url": "javascript:alert(1)"}
    r = await svc.post(f"/deals/{deal_id}/close", body)
    assert r.status_code == 422, r.text
    r = await svc.post(f"/deals/{deal_id}/close", close_body())
    assert r.status_code == 201, r.text


async def test_a_lead_accepted_after_the_erasure_opens_a_deal_without_the_person(
    closing: ClosingFactory,
):
    """Issue #18: LeadAccepted and CustomerErased travel on different topics; processed
    after the erasure, the acceptance stores (and sends) nothing of the person."""
    from datetime import UTC, datetime

    from kauppa.contracts import CustomerErased, envelope

    from .conftest import lead_accepted

    svc = await closing()
    lead = lead_accepted()
    assert lead.prospect.contact is not None and lead.prospect.contact.email
    erasure = CustomerErased(
        customer_id="crm-7",
        organisation_id=lead.organisation_id,
        business_id=lead.prospect.business_id,
        requested_by="dpo",
        erased_at=datetime.now(UTC),
    )
    await svc.runtime.pipeline.process_envelopes([envelope(erasure, source="t")])
    await svc.runtime.pipeline.process_envelopes([envelope(lead, source="t")])
    deal = await svc.runtime.db["deals"].find_one({"_id": f"deal-{lead.lead_id}"})
    assert deal is not None and deal["prospect"]["contact"] is None
    assert lead.prospect.contact.email not in str(deal)
    assert "erased_at" in deal
