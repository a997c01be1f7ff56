"""The fan-out handler and the commands on a unit of work without a database (fast): an
in-memory ``Webhooks`` repository stands in for MongoDB. The same code on the real
broker and mongod is in the integration tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import CustomerErased, DealLost, LeadAssigned, LeadSource, envelope, examples
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.servicekit.auth import Principal
from kauppa.servicekit.refusals import NotFound
from kauppa.servicekit.repository import Document
from kauppa.webhooks import commands
from kauppa.webhooks.erasure import erase_customers
from kauppa.webhooks.handlers import EVENTS, Deps, body_of, fan_out
from kauppa.webhooks.repository import COLLECTING, Webhooks

NOW = datetime(2027, 2, 1, 8, 0, tzinfo=UTC)


class InMemoryWebhooks(Webhooks):
    """What the handler and the commands use of ``Webhooks``, in dicts."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Document] = {}
        self.sources: dict[str, Document] = {}
        self.deliveries: dict[str, Document] = {}

    async def remember_sources(self, sources: Mapping[str, Document]) -> None:
        for k, v in sources.items():
            self.sources.setdefault(k, {}).update(v)

    async def lead_sources(self, lead_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        return {
            i: (self.sources[i]["system"], self.sources[i].get("partner"))
            for i in lead_ids
            if i in self.sources
        }

    async def collecting(self, organisation_ids: Iterable[str]) -> list[Document]:
        orgs = set(organisation_ids)
        return [
            {"_id": k, **s}
            for k, s in self.subscriptions.items()
            if s["organisation_id"] in orgs and s["state"] in COLLECTING
        ]

    async def add_deliveries(self, deliveries: Sequence[tuple[str, Document]]) -> None:
        for k, d in deliveries:
            self.deliveries.setdefault(k, d)

    async def subscription(self, sub_id: str) -> Document | None:
        s = self.subscriptions.get(sub_id)
        return {"_id": sub_id, **s} if s is not None else None

    async def set_state(self, sub_id: str, change: Document, unset: Document) -> None:
        s = self.subscriptions[sub_id]
        s.update(change)
        for k in unset:
            s.pop(k, None)

    async def send_waiting_now(self, sub_id: str) -> None:
        for d in self.deliveries.values():
            if d["subscription_id"] == sub_id and d.get("open") and d["state"] == "pending":
                d["next_attempt_at"] = NOW

    async def redeliver_one(self, sub_id: str, delivery_id: str) -> bool:
        return False


def _subscribe(repo: InMemoryWebhooks, sub_id: str, org: str, **filters: str) -> None:
    repo.subscriptions[sub_id] = {
        "organisation_id": org,
        "event_types": ["LeadAssigned", "DealLost"],
        "filters": filters,
        "state": "active",
    }


def _assigned(lead_id: str, org: str) -> LeadAssigned:
    return LeadAssigned(
        lead_id=lead_id,
        organisation_id=org,
        seller_id="seller-1",
        source=LeadSource(system="web-form"),
        prospect=examples.prospect(),
        criteria=examples.criteria(),
        assigned_at=NOW,
        respond_by=NOW + timedelta(hours=4),
    )


async def test_one_delivery_per_matching_subscription_and_the_source_is_remembered() -> None:
    repo = InMemoryWebhooks()
    _subscribe(repo, "whsub_a", "org-a", source_system="web-form")
    _subscribe(repo, "whsub_other_source", "org-a", source_system="booking")
    _subscribe(repo, "whsub_b", "org-b")
    deps = Deps()
    assigned = envelope(_assigned("lead-1", "org-a"), source="t")
    uow = FakeUnitOfWork(NOW, {Webhooks: repo})
    await fan_out([assigned], uow, deps)
    # The deal lost later carries no source: it is matched by the lead's remembered one.
    lost = envelope(
        DealLost(
            deal_id="deal-1",
            lead_id="lead-1",
            organisation_id="org-a",
            seller_id="seller-1",
            reason="went with a competitor",
            lost_at=NOW,
        ),
        source="t",
    )
    await fan_out([lost], FakeUnitOfWork(NOW, {Webhooks: repo}), deps)

    assert repo.sources["lead-1"]["system"] == "web-form"
    assert set(repo.deliveries) == {f"whsub_a:{assigned.id}", f"whsub_a:{lost.id}"}
    first, second = repo.deliveries[f"whsub_a:{assigned.id}"], repo.deliveries[f"whsub_a:{lost.id}"]
    assert first["body"] == body_of(assigned) and first["state"] == "pending"
    assert first["key"] == assigned.subject and first["seq"] < second["seq"]
    assert uow.events == []  # the handler emits nothing: the sender sends


async def test_a_batch_taken_again_keeps_its_deliveries_as_they_were() -> None:
    repo = InMemoryWebhooks()
    _subscribe(repo, "whsub_a", "org-a")
    batch = [envelope(_assigned("lead-2", "org-a"), source="t")]
    await fan_out(batch, FakeUnitOfWork(NOW, {Webhooks: repo}), Deps())
    [before] = repo.deliveries.values()
    await fan_out(batch, FakeUnitOfWork(NOW, {Webhooks: repo}), Deps())
    assert list(repo.deliveries.values()) == [before]


def test_the_table_routes_every_deliverable_type_to_the_fan_out() -> None:
    by_type = {route.event: route.handler for route in EVENTS}
    assert by_type.pop(CustomerErased) is erase_customers  # erasure.py
    assert set(by_type.values()) == {fan_out}


async def test_activating_releases_what_waited_and_unknown_ones_are_refused() -> None:
    repo = InMemoryWebhooks()
    _subscribe(repo, "whsub_a", "org-a")
    repo.subscriptions["whsub_a"].update(state="disabled", failing_since=NOW)
    repo.deliveries["d-1"] = {
        "subscription_id": "whsub_a",
        "open": True,
        "state": "pending",
        "next_attempt_at": NOW + timedelta(hours=1),
    }
    ops = Principal("ops-1", frozenset({"ops"}))
    uow = FakeUnitOfWork(NOW, {Webhooks: repo})
    view = await commands.set_state(uow, ops, "whsub_a", "active")
    assert view["state"] == "active" and view["failing_since"] is None
    assert "failing_since" not in repo.subscriptions["whsub_a"]
    assert repo.deliveries["d-1"]["next_attempt_at"] == NOW
    with pytest.raises(NotFound, match="no such subscription"):
        await commands.set_state(uow, ops, "whsub_none", "paused")
    with pytest.raises(NotFound, match="being delivered"):
        await commands.redeliver_one(uow, ops, "whsub_a", "d-1")
