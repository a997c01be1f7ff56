"""Handlers under a FakeUnitOfWork with an in-memory repository: load, ask the
relationship, save, emit and schedule, in milliseconds (the same handlers run on a real
broker and mongod in the integration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kauppa.contracts import envelope, examples
from kauppa.contracts.events.customers import (
    ContactDue,
    CustomerAttributes,
    CustomerClassificationSubmitted,
    CustomerContactLogged,
    CustomerContactReported,
    NextContactScheduled,
    ProblemReported,
)
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.followup.audit import AuditGauge
from kauppa.followup.commands import rules_of
from kauppa.followup.digest import DigestSender
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.relationship import CustomerRelationship
from kauppa.followup.handlers import (
    Deps,
    classify_customer,
    contact_reported,
    fire_contacts,
    schedule_feedback_call,
)
from kauppa.followup.repository import Relationships
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.timers import DueTimer

from .fakes import InMemoryRelationships

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # a Thursday
SETTINGS = FollowupSettings()
DEPS = Deps(SETTINGS, rules_of(SETTINGS), DigestSender(SETTINGS), AuditGauge())


def customer() -> CustomerRelationship:
    deal = examples.deal_closed(closed_at=NOW - timedelta(days=10))
    rel = CustomerRelationship.new(deal.customer_id, deal.organisation_id, NOW)
    rel.start_after_close(deal, NOW, DEPS.rules)
    return rel


def fake(repo: InMemoryRelationships) -> FakeUnitOfWork:
    return FakeUnitOfWork(NOW, {Relationships: repo})


async def test_d13_a_delivery_schedules_one_feedback_call_per_delivery() -> None:
    rel = customer()
    repo = InMemoryRelationships(rel)
    delivery = examples.delivery_completed(customer_id=rel.customer_id, delivered_at=NOW)
    env = envelope(delivery, source="erp")
    uow = fake(repo)
    await schedule_feedback_call([env, envelope(delivery, source="erp")], uow, DEPS)
    [event] = uow.events  # the same delivery twice in a batch: one call
    assert isinstance(event, NextContactScheduled)
    contact_id = ids.feedback_contact_id(delivery.delivery_id)
    assert event.contact_id == contact_id
    assert [t.key for t in uow.timers] == [ids.contact_timer_key(contact_id)]
    assert repo.contacts[contact_id]["state"] == "scheduled"
    assert repo.customers[rel.customer_id]["last_delivery"]["delivery_id"] == delivery.delivery_id

    again = fake(repo)  # redelivered later: the contact exists, nothing happens
    await schedule_feedback_call([env], again, DEPS)
    assert again.events == [] and again.timers == []


async def test_d15_a_reported_contact_logs_it_and_decides_the_next_one() -> None:
    rel = customer()
    repo = InMemoryRelationships(rel)
    report = CustomerContactReported(
        report_id="rep-1",
        customer_id=rel.customer_id,
        seller_id=rel.seller_id,
        contacted_at=NOW,
        problems=["Two licences missing"],
    )
    unknown = report.model_copy(update={"report_id": "rep-2", "customer_id": "cust-nobody"})
    uow = fake(repo)
    await contact_reported(
        [envelope(report, source="tool"), envelope(unknown, source="tool")], uow, DEPS
    )
    types = [type(e) for e in uow.events]
    assert types == [ProblemReported, CustomerContactLogged, NextContactScheduled]
    assert set(repo.reports) == {"rep-1"}  # the unknown customer's report is dropped
    assert repo.customers[rel.customer_id]["open_problems"][0]["description"] == (
        "Two licences missing"
    )
    assert repo.saves == 1

    repeat = fake(repo)  # the same report again: a duplicate changes nothing
    await contact_reported([envelope(report, source="tool")], repeat, DEPS)
    assert repeat.events == []


async def test_d17_a_classification_starts_or_updates_the_relationship() -> None:
    repo = InMemoryRelationships()
    event = CustomerClassificationSubmitted(
        customer_id="cust-org-demo-acme",
        organisation_id="org-demo",
        attributes=CustomerAttributes(industry="manufacturing", products_owned=["ERP"]),
        submitted_at=NOW,
    )
    uow = fake(repo)
    await classify_customer([envelope(event, source="crm")], uow, DEPS)
    stored = repo.customers["cust-org-demo-acme"]
    assert stored["attributes"]["industry"] == "manufacturing"
    assert stored["products_owned"] == ["ERP"] and stored["active"] is False
    assert uow.events == []


async def test_d15_a_fired_next_contact_is_due_and_leaves_a_repeat_reminder() -> None:
    rel = customer()
    repo = InMemoryRelationships(rel)
    assert rel.next_contact is not None
    contact_id, due_at = rel.next_contact["contact_id"], rel.next_contact["due_at"]
    payload = {"contact_id": contact_id, "customer_id": rel.customer_id, "kind": "yearly"}
    gone = {"contact_id": "nc-gone", "customer_id": "cust-nobody", "kind": "yearly"}
    fired_at = due_at + timedelta(seconds=5)
    timers = [
        DueTimer(f"contact:{contact_id}", "contact_due", due_at, payload, fired_at),
        DueTimer("contact:nc-gone", "contact_due", due_at, gone, fired_at),
    ]
    uow = FakeUnitOfWork(fired_at, {Relationships: repo})
    await fire_contacts(timers, uow, DEPS)
    [due] = uow.events  # the unknown customer's contact is cancelled, not announced
    assert isinstance(due, ContactDue) and due.lateness_seconds == 5.0
    assert [p.code for p in due.talking_points] == ["ask_more_business", "ask_referrals"]
    repeat = repo.customers[rel.customer_id]["next_contact"]
    assert repeat["contact_id"] != contact_id and repeat["defaulted"] is True
    assert repeat["due_at"] == fired_at + timedelta(days=14)
    assert [t.key for t in uow.timers] == [ids.contact_timer_key(repeat["contact_id"])]
