"""GDPR erasure on the real broker and mongod, with a real receiver: the deliveries
whose event names the erased person lose their body, one not yet delivered is never
sent, and the other deliveries (another person's) are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from kauppa.contracts import CustomerErased, LeadAssigned, examples
from kauppa.devkit.testing import eventually
from kauppa.webhooks.repository import DELIVERIES

from .conftest import Receiver, StartService, http, ops, org, publish, subscribe, verdicts

pytestmark = pytest.mark.integration

DOWN = [(500, 0.0, {})] * 1000  # a receiver that stays down


async def test_an_erasure_drops_the_bodies_and_never_sends_what_waits(
    start_service: StartService, receiver: Receiver
) -> None:
    rt = await start_service()
    o = org()
    receiver.scripts["/down"] = list(DOWN)
    await subscribe(rt, o, receiver.url("/ok"), event_types=["LeadAssigned"])
    down = await subscribe(rt, o, receiver.url("/down"), event_types=["LeadAssigned"])
    erased_email = f"maija.{uuid.uuid4().hex[:6]}@esimerkki.fi"
    theirs, other = (
        LeadAssigned(**{**base.model_dump(), "prospect": prospect})
        for base, prospect in (
            (verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "web-form")[1], examples.prospect(
                contact={"name": "Maija M", "email": erased_email}
            )),
            (verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "web-form")[1], examples.prospect()),
        )
    )  # fmt: skip
    envs = await publish(rt, [theirs, other])
    db = rt.db[DELIVERIES]
    # Both delivered to /ok; both waiting (and failing) at /down.
    await eventually(lambda: len(receiver.at("/ok")) >= 2, timeout=20)
    await eventually(
        lambda: db.count_documents({"organisation_id": o, "open": True}),
        lambda n: n == 2,
        timeout=20,
    )

    await publish(
        rt,
        [
            CustomerErased(
                customer_id=f"cust-{uuid.uuid4().hex[:8]}",
                organisation_id=o,
                email=erased_email.upper(),  # matched however it is spelled
                requested_by="dpo",
                erased_at=datetime.now(UTC),
            )
        ],
    )
    mine = {"organisation_id": o, "event_id": envs[0].id}
    await eventually(
        lambda: db.count_documents({**mine, "erased": True}), lambda n: n == 2, timeout=20
    )
    async for doc in db.find(mine):
        assert doc["body"] is None and doc["open"] is False
        assert doc["state"] == (
            "erased" if doc["subscription_id"] == down["subscription_id"] else "delivered"
        )
    async for doc in db.find({"organisation_id": o, "event_id": envs[1].id}):
        assert doc["body"] and "erased" not in doc  # another person's: untouched
    # What waited is never sent again, and a redelivery of it is refused.
    sent = len([r for r in receiver.requests_to("/down") if r.webhook_id == envs[0].id])
    async with http(rt) as client:
        r = await client.post(
            f"/subscriptions/{down['subscription_id']}/deliveries/{down['subscription_id']}:{envs[0].id}/redeliver",
            headers={**ops(rt), "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 404, r.text
    await eventually(
        lambda: db.count_documents({"event_id": envs[1].id, "attempts": {"$gte": 3}}),
        lambda n: n >= 1,
        timeout=20,
    )  # the other person's delivery was tried again meanwhile
    assert len([r for r in receiver.requests_to("/down") if r.webhook_id == envs[0].id]) == sent
