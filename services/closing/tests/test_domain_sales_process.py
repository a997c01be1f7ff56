"""D5: deals, stages and stale-deal reminders; identities; amendments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from kauppa.closing.domain.amendment import AmendmentDraft, amend
from kauppa.closing.domain.close_summary import CloseTerms, review_close
from kauppa.closing.domain.identity import customer_id_for, deal_id_for
from kauppa.closing.domain.sales_process import (
    SalesProcess,
    days_without_contact,
    latest_contact,
    refuse_unless_open,
    stale_reminder_due,
)
from kauppa.contracts import ContactPerson, examples

from .test_domain_close_summary import complete_terms

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROCESS = SalesProcess(
    stages=("qualified", "offer", "closing"),
    stale_after_days=14,
    stale_after_days_by_stage={"closing": 3},
)


def test_d5_deal_id_is_deterministic_from_the_lead():
    assert deal_id_for("lead-1") == deal_id_for("lead-1") == "deal-lead-1"


def test_d5_customer_id_prefers_business_id_then_domain_then_name():
    p = examples.prospect(business_id="1234567-8")
    assert customer_id_for("org", p) == "cust-org-bid-FI12345678"
    for spelling in ("12345678", "FI12345678", " 1234567 - 8"):
        same = examples.prospect(business_id=spelling, company_name="Other name")
        assert customer_id_for("org", same) == customer_id_for("org", p)
    by_domain = examples.prospect(business_id=None)
    assert customer_id_for("org", by_domain) == "cust-org-dom-esimerkki.fi"
    free_mail = examples.prospect(
        business_id=None,
        company_name="Esimerkki Oy",
        contact=ContactPerson(email="maija@gmail.com"),
    )
    assert customer_id_for("org", free_mail) == "cust-org-name-FI-esimerkki"
    assert customer_id_for("other-org", p) != customer_id_for("org", p)


def test_d5_stale_window_depends_on_stage():
    assert stale_reminder_due(T0, "qualified", PROCESS) == T0 + timedelta(days=14)
    assert stale_reminder_due(T0, "closing", PROCESS) == T0 + timedelta(days=3)


def test_d5_a_late_logged_contact_does_not_move_the_clock_back():
    assert latest_contact(T0, T0 - timedelta(days=1)) == T0
    assert latest_contact(T0, T0 + timedelta(days=1)) == T0 + timedelta(days=1)


def test_d5_days_without_contact():
    assert days_without_contact(T0, T0 + timedelta(days=14, hours=3)) == 14


def test_d5_stage_moves_only_to_known_other_stages_backwards_allowed():
    assert PROCESS.refuse_move("qualified", "offer") is None
    assert PROCESS.refuse_move("closing", "qualified") is None
    assert "unknown stage" in (PROCESS.refuse_move("qualified", "nope") or "")
    assert "already" in (PROCESS.refuse_move("offer", "offer") or "")


def test_d5_only_open_deals_take_buying_path_commands():
    assert refuse_unless_open("open", "log a contact") is None
    assert "won" in (refuse_unless_open("won", "log a contact") or "")


def test_d5_a_process_needs_stages_and_positive_windows():
    with pytest.raises(ValueError):
        SalesProcess(stages=(), stale_after_days=14)
    with pytest.raises(ValueError):
        SalesProcess(stages=("a",), stale_after_days=0)


def test_amendment_reprices_and_keeps_the_signature():
    summary = review_close(CloseTerms.model_validate(complete_terms()), []).summary
    assert summary is not None
    draft = AmendmentDraft.model_validate(
        {
            "lines": [
                {
                    "product_code": "CRM-PRO",
                    "quantity": "3",
                    "unit_price": {"amount": "1200.00", "currency": "EUR"},
                }
            ],
            "change_note": "one more licence",
        }
    )
    review = amend(summary, draft, [])
    assert review.summary is not None
    assert review.summary.price.net.amount == Decimal("3600.00")
    assert review.summary.signature == summary.signature
    assert review.summary.delivery == summary.delivery


def test_amendment_that_changes_nothing_is_refused():
    summary = review_close(CloseTerms.model_validate(complete_terms()), []).summary
    assert summary is not None
    review = amend(summary, AmendmentDraft(), [])
    assert review.summary is None and "change" in review.problems
