"""Unit tests of the event -> read-model projections (pure: write operations only)."""

from __future__ import annotations

from kauppa.contracts import all_event_classes, envelope, examples
from kauppa.dashboard.projections import CUSTOMERS, DEALS, LEADS, PROJECTIONS, project

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
