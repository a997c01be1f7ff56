"""The batch handler on a unit of work without a database (fast): an in-memory
``ReadModels`` holds the erasure tombstones and keeps the writes the handler makes. The
same on the real broker and mongod: ``test_erasure_integration.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kauppa.contracts import CustomerErased, DealLost, envelope, examples
from kauppa.dashboard.erasure import ERASED
from kauppa.dashboard.handlers import EVENTS, Deps, update_read_models
from kauppa.dashboard.repository import CONFIRMATION_FAILURES, DEALS, ReadModels, Write
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork

NOW = datetime(2027, 2, 1, 8, 0, tzinfo=UTC)


class InMemoryReadModels(ReadModels):
    """Tombstones and stored deals as sets; ``applied`` keeps every write in order."""

    def __init__(self, erased: set[str] | None = None, deals: dict[str, set[str]] | None = None):
        self.erased = erased or set()
        self.erased_deal_ids: set[str] = set()
        self.stored_deals = deals or {}
        self.applied: list[Write] = []

    async def erased_customers(self, customer_ids: set[str]) -> set[str]:
        return customer_ids & self.erased

    async def erased_deals(self, deal_ids: set[str]) -> set[str]:
        return deal_ids & self.erased_deal_ids

    async def deals_of(self, customer_ids: set[str]) -> dict[str, set[str]]:
        return {c: set(self.stored_deals.get(c, ())) for c in customer_ids}

    async def apply(self, writes: list[Write]) -> None:
        self.applied += writes


def _writes_to(repo: InMemoryReadModels, collection: str) -> list[Any]:
    return [op for c, op in repo.applied if c == collection]


def _erased(customer_id: str) -> CustomerErased:
    return CustomerErased(
        customer_id=customer_id, organisation_id="org-demo", requested_by="dpo", erased_at=NOW
    )


def _lost(deal_id: str, reason: str) -> DealLost:
    return DealLost(
        deal_id=deal_id,
        lead_id="lead-1",
        organisation_id="org-demo",
        seller_id="seller-1",
        reason=reason,
        lost_at=NOW,
    )


async def test_an_event_of_a_customer_erased_before_is_projected_scrubbed() -> None:
    closed = examples.deal_closed(customer_id="c-gone")
    repo = InMemoryReadModels(erased={"c-gone"})
    await update_read_models(
        [envelope(closed, source="t")], FakeUnitOfWork(NOW, {ReadModels: repo}), Deps()
    )
    deal_sets = [op._doc.get("$set", {}) for op in _writes_to(repo, DEALS)]
    assert any(s.get("company") == ERASED for s in deal_sets)
    assert {"erased": True} in deal_sets  # the deal's own tombstone
    assert closed.customer.company_name not in str(repo.applied)


async def test_an_erasure_blanks_its_deals_failures_also_those_the_batch_names() -> None:
    repo = InMemoryReadModels(deals={"c-1": {"deal-stored"}})
    batch = [
        envelope(examples.deal_closed(customer_id="c-1", deal_id="deal-new"), source="t"),
        envelope(_erased("c-1"), source="t"),
        envelope(_lost("deal-new", "Maija moved to Oulu"), source="t"),
    ]
    await update_read_models(batch, FakeUnitOfWork(NOW, {ReadModels: repo}), Deps())
    [blank] = _writes_to(repo, CONFIRMATION_FAILURES)
    assert blank._filter["deal_id"] == {"$in": ["deal-new", "deal-stored"]}
    assert blank._doc == {"$set": {"reason": ERASED}}
    # The DealLost after the erasure in the same batch keeps no reason of the person's.
    assert "Maija" not in str(repo.applied)


def test_one_handler_takes_every_event_type() -> None:
    assert {route.handler for route in EVENTS} == {update_read_models}
    assert len(EVENTS) == len({route.event for route in EVENTS})
