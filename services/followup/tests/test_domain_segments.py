"""D17: segment criteria pick every matching customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kauppa.contracts.events.customers import CustomerAttributes, SegmentCriteria
from kauppa.followup.domain.segments import matches, segment_filter, spread_due_at

ATTRS = CustomerAttributes(industry="retail", region="Uusimaa", renewal_month=9, tags=["eu"])


def test_d17_all_given_criteria_must_match() -> None:
    assert matches(ATTRS, {"CRM-PRO"}, SegmentCriteria(industries=["retail"], regions=["Uusimaa"]))
    assert not matches(ATTRS, set(), SegmentCriteria(industries=["retail"], regions=["Pirkanmaa"]))


def test_d17_list_criterion_matches_any_value() -> None:
    assert matches(ATTRS, {"CRM-PRO"}, SegmentCriteria(products_owned=["ERP", "CRM-PRO"]))
    assert matches(ATTRS, set(), SegmentCriteria(tags=["eu", "x"], renewal_months=[9]))
    assert not matches(ATTRS, set(), SegmentCriteria(products_owned=["ERP"]))


def test_d17_empty_criteria_match_everyone_in_the_organisation() -> None:
    assert matches(ATTRS, set(), SegmentCriteria())
    assert segment_filter("org", SegmentCriteria()) == {"organisation_id": "org", "active": True}


def test_d17_filter_names_the_same_fields() -> None:
    f = segment_filter("org", SegmentCriteria(industries=["retail"], products_owned=["A"]))
    assert f["attributes.industry"] == {"$in": ["retail"]}
    assert f["products_owned"] == {"$in": ["A"]}


def test_d17_campaign_contacts_spread_over_window() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    end = start + timedelta(hours=10)
    dues = [spread_due_at(i, 10, start, end) for i in range(10)]
    assert dues[0] == start and dues[-1] == start + timedelta(hours=9)
    assert spread_due_at(3, 10, start, start) == start
