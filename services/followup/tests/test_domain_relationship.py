"""The CustomerRelationship aggregate's verbs, pure (D13-D16): what each changes and what
it causes (events, timers, contact writes), or the refusal it raises."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kauppa.contracts import examples
from kauppa.contracts.events.customers import (
    ContactDue,
    ContactKind,
    CustomerContactLogged,
    CustomerContactReported,
    FeedbackCallCompleted,
    NextContactScheduled,
    ProblemReported,
    ProblemResolved,
)
from kauppa.contracts.events.privacy import ERASED
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.calendar import add_months
from kauppa.followup.domain.relationship import (
    CONTACT_DUE,
    ContactReportRefused,
    CustomerRelationship,
    RelationshipErased,
    RelationshipRules,
)

RULES = RelationshipRules()
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # a Thursday


def active(closed_days_ago: int = 10) -> tuple[CustomerRelationship, NextContactScheduled]:
    deal = examples.deal_closed(closed_at=NOW - timedelta(days=closed_days_ago))
    rel = CustomerRelationship.new(deal.customer_id, deal.organisation_id, NOW)
    caused = rel.start_after_close(deal, NOW, RULES)
    [scheduled] = caused.events
    assert isinstance(scheduled, NextContactScheduled)
    return rel, scheduled


def report(rel: CustomerRelationship, **fields: object) -> CustomerContactReported:
    values: dict[str, object] = {
        "report_id": "rep-1",
        "customer_id": rel.customer_id,
        "seller_id": rel.seller_id,
        "contacted_at": NOW,
    }
    values.update(fields)
    return CustomerContactReported(**values)  # type: ignore[arg-type]


def test_d15_d16_the_first_deal_activates_with_a_defaulted_next_contact() -> None:
    rel, scheduled = active()
    assert rel.record["active"] is True
    assert scheduled.defaulted and scheduled.kind == ContactKind.YEARLY
    assert scheduled.due_at == NOW - timedelta(days=10) + timedelta(days=180)
    assert rel.next_contact is not None
    assert rel.next_contact["contact_id"] == scheduled.contact_id
    assert rel.record["contact_deadline"] == add_months(NOW - timedelta(days=10), 12)


def test_a_later_deal_adds_products_but_keeps_the_next_contact() -> None:
    rel, scheduled = active()
    later = examples.deal_closed(customer_id=rel.customer_id, closed_at=NOW)
    caused = rel.start_after_close(later, NOW, RULES)
    assert caused.events == [] and caused.timers == []
    assert rel.next_contact is not None
    assert rel.next_contact["contact_id"] == scheduled.contact_id
    assert len(rel.record["deals"]) == 2


def test_d13_delivery_schedules_a_feedback_call_three_business_days_later() -> None:
    rel, _ = active()
    delivery = examples.delivery_completed(
        customer_id=rel.customer_id, delivered_at=datetime(2026, 3, 5, 10, tzinfo=UTC)
    )
    caused = rel.delivery_completed(delivery, NOW, RULES)
    [event] = caused.events
    [contact] = caused.contacts
    [timer] = caused.timers
    # Thursday + 3 business days = Tuesday, at 09:00 in Helsinki (07:00 UTC).
    due = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert isinstance(event, NextContactScheduled) and event.kind == ContactKind.FEEDBACK_CALL
    assert event.due_at == contact.due_at == timer.due_at == due
    assert contact.contact_id == ids.feedback_contact_id(delivery.delivery_id) and contact.fresh
    assert timer.kind == CONTACT_DUE and timer.payload["items"] == ["2 x CRM-PRO"]
    assert rel.record["last_delivery"]["delivery_id"] == delivery.delivery_id


def test_d15_a_logged_contact_always_decides_the_next_one() -> None:
    rel, first = active()
    logged = rel.log_contact(report(rel), None, NOW, RULES)
    types = [type(e) for e in logged.events]
    assert types == [CustomerContactLogged, NextContactScheduled]
    assert logged.next_contact is not None and logged.next_contact.defaulted
    # The old next contact is superseded and its timer cancelled; the new one is armed.
    [update] = logged.updates
    assert update.contact_id == first.contact_id and update.changes == {"state": "superseded"}
    assert [t.cancel for t in logged.timers] == [True, False]
    assert rel.next_contact is not None
    assert rel.next_contact["contact_id"] == logged.next_contact.contact_id
    assert logged.summary()["next_contact"]["defaulted"] is True


def test_d16_a_date_past_twelve_months_is_clamped() -> None:
    rel, _ = active(closed_days_ago=0)
    logged = rel.log_contact(report(rel, next_contact_on=date(2028, 1, 1)), None, NOW, RULES)
    assert logged.clamped and logged.next_contact is not None
    assert logged.next_contact.due_at == add_months(NOW, 12)


def test_d14_problems_open_and_resolve_and_gate_the_upsell() -> None:
    rel, _ = active()
    logged = rel.log_contact(report(rel, problems=["Two licences missing"]), None, NOW, RULES)
    [problem_id] = logged.problems_opened
    assert isinstance(logged.events[0], ProblemReported)
    assert rel.record["open_problems"][0]["problem_id"] == problem_id
    assert rel.next_contact is not None
    due = rel.contact_due(
        {"contact_id": rel.next_contact["contact_id"], "kind": "scheduled"},
        due_at=NOW,
        fired_at=NOW,
        lateness_seconds=0.0,
        now=NOW,
        rules=RULES,
    )
    event = due.events[0]
    assert isinstance(event, ContactDue)
    assert [p.code for p in event.talking_points] == ["fix_problems", "ask_referrals"]

    fixed = rel.log_contact(
        report(rel, report_id="rep-2", resolved_problem_ids=[problem_id]), None, NOW, RULES
    )
    assert isinstance(fixed.events[0], ProblemResolved)
    assert fixed.problems_resolved == [problem_id] and rel.record["open_problems"] == []


def test_d13_a_feedback_call_answered_completes_it() -> None:
    rel, _ = active()
    answered = {"_id": "fb-1", "kind": "feedback_call", "state": "due", "deal_id": "deal-1"}
    logged = rel.log_contact(report(rel, contact_id="fb-1"), answered, NOW, RULES)
    completed = [e for e in logged.events if isinstance(e, FeedbackCallCompleted)]
    assert completed[0].delivery_ok is True and completed[0].deal_id == "deal-1"
    assert logged.updates[0].contact_id == "fb-1"
    assert logged.updates[0].changes == {"state": "done", "report_id": "rep-1"}


def test_d15_a_fired_next_contact_leaves_a_repeat_reminder() -> None:
    rel, scheduled = active()
    fired_at = scheduled.due_at + timedelta(minutes=1)
    caused = rel.contact_due(
        {"contact_id": scheduled.contact_id, "kind": "yearly"},
        due_at=scheduled.due_at,
        fired_at=fired_at,
        lateness_seconds=60.0,
        now=fired_at,
        rules=RULES,
    )
    [repeat] = caused.contacts
    assert repeat.defaulted and repeat.due_at == fired_at + timedelta(days=14)
    assert rel.next_contact is not None and rel.next_contact["contact_id"] == repeat.contact_id
    assert caused.updates[0].changes["state"] == "due"


def test_an_erased_relationship_refuses_reports_and_classifications() -> None:
    rel, _ = active()
    rel.report_problem("pb-1", "The printer smokes", NOW, rel.seller_id)
    rel.erase(NOW)
    assert rel.erased and rel.record["active"] is False and rel.next_contact is None
    assert rel.record["company_name"] is None
    assert rel.record["open_problems"][0]["description"] == ERASED
    with pytest.raises(ContactReportRefused):
        rel.log_contact(report(rel), None, NOW, RULES)
    with pytest.raises(RelationshipErased):
        rel.classify({"industry": "manufacturing"})
    later = NOW + timedelta(days=1)
    rel.erase(later)
    assert rel.record["erased_at"] == NOW  # a second erasure keeps the first one's time


def test_the_audit_repair_puts_the_next_contact_inside_the_deadline() -> None:
    rel, _ = active(closed_days_ago=400)
    rel.record["next_contact_due_at"] = None
    caused = rel.repair_schedule("run-1", NOW, RULES.policy)
    scheduled = caused.events[-1]
    assert isinstance(scheduled, NextContactScheduled) and scheduled.defaulted
    assert scheduled.due_at == NOW  # past the deadline already: due now
