"""Unit tests of the event -> read-model projections (pure: write operations only)."""

from __future__ import annotations

from kauppa.contracts import all_event_classes, envelope, examples
from kauppa.dashboard.projections import PROJECTIONS, project
from kauppa.dashboard.repository import CUSTOMERS, DEALS, LEADS, WEBHOOK_ALERTS

from . import scenario


def test_every_event_the_catalogue_says_the_dashboard_consumes_is_projected():
    wanted = {c for c in all_event_classes() if "dashboard" in c.consumed_by}
    assert wanted - set(PROJECTIONS) == set()


def test_d4_a_lead_first_seen_through_a_later_event_still_gets_its_source():
    sc = scenario.build()
    accepted = next(e for e in sc.envelopes if e.event.type_name == "LeadAccepted")
    [(collection, op)] = project(accepted)
    doc = op._doc
    assert collection == LEADS
    assert doc["$setOnInsert"]["source"]["system"] in {"alpha-web", "beta-list"}
    assert doc["$set"]["accepted_at"] == accepted.event.accepted_at


def test_d11_closed_deal_feeds_the_deal_the_lead_and_the_customer():
    deal = examples.deal_closed()
    writes = project(envelope(deal, source="t"))
    assert {c for c, _ in writes} == {DEALS, LEADS, CUSTOMERS}
    deal_op = next(op for c, op in writes if c == DEALS)
    # $min: a ConfirmationSent carrying closed_at may have arrived first.
    assert deal_op._doc["$min"] == {"closed_at": deal.closed_at}


def test_events_the_dashboard_has_no_view_of_write_nothing():
    from kauppa.contracts import CustomerContactReported

    report = CustomerContactReported(
        report_id="r",
        customer_id="c",
        seller_id="s",
        contacted_at=examples.lead_qualified().qualified_at,
    )
    assert project(envelope(report, source="t")) == []


def test_lead_queued_puts_the_lead_in_the_queue_with_why_and_counts_it_once_for_its_source():
    queued = examples.lead_queued()
    [(collection, op)] = project(envelope(queued, source="handoff"))
    doc = op._doc
    assert collection == LEADS and op._filter == {"_id": queued.lead_id}
    assert doc["$set"] == {
        "queued": True,
        "queued_since": queued.queued_at,
        "queue_reason": "no_seller_for_language",
        "queue_detail": queued.detail,
    }
    # The first stay in the queue counts (source quality's "queued"), whatever came after.
    assert doc["$min"] == {"first_queued_at": queued.queued_at}
    assert doc["$setOnInsert"]["source"]["system"] == queued.source.system
    # A later assignment takes it out of the queue, as today.
    later = examples.lead_qualified(lead_id=queued.lead_id)
    from kauppa.contracts import LeadAssigned

    assigned = LeadAssigned(
        lead_id=queued.lead_id,
        organisation_id=queued.organisation_id,
        seller_id="s-1",
        source=queued.source,
        prospect=later.prospect,
        criteria=later.criteria,
        assigned_at=queued.queued_at,
        respond_by=queued.queued_at,
    )
    [(_, op2)] = project(envelope(assigned, source="handoff"))
    assert op2._doc["$set"]["queued"] is False


def test_a_disabled_webhook_subscription_is_one_alert_row_per_event():
    disabled = examples.webhook_subscription_disabled()
    env = envelope(disabled, source="webhooks")
    [(collection, op)] = project(env)
    assert collection == WEBHOOK_ALERTS and op._filter == {"_id": env.id}  # a repeat: no change
    assert op._doc["$set"] == {
        "organisation_id": disabled.organisation_id,
        "subscription_id": disabled.subscription_id,
        "url_host": disabled.url_host,
        "failing_since": disabled.failing_since,
        "disabled_at": disabled.disabled_at,
        "reason": disabled.reason,
    }
