"""D9 + D10: a deal closes only with content, delivery schedule, price, payment terms and
signature evidence; every missing item is named."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from kauppa.closing.domain.close_summary import (
    SUMMARY_ITEMS,
    CloseTerms,
    LineDraft,
    OfferOnFile,
    review_close,
)
from kauppa.closing.domain.pricing import BundleKind, BundleRule


def complete_terms(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lines": [
            {
                "product_code": "CRM-PRO",
                "description": "CRM Pro",
                "quantity": "2",
                "unit_price": {"amount": "1200.00", "currency": "EUR"},
            },
            {
                "product_code": "TRAIN-1D",
                "quantity": "1",
                "unit_price": {"amount": "900.00", "currency": "EUR"},
                "upsell": True,
            },
        ],
        "delivery_schedule": {"on": "2026-04-01"},
        "price": {"vat_rate": "25.5", "currency": "EUR"},
        "payment_terms": {"description": "14 days net", "net_days": 14},
        "signature": {"method": "e_signature", "envelope_id": "env-1", "signed_by": "Maija"},
    }
    values.update(overrides)
    return values


def test_d9_complete_terms_build_the_summary():
    review = review_close(CloseTerms.model_validate(complete_terms()), [])
    assert review.complete and review.missing == []
    assert review.summary is not None
    assert review.summary.price.net.amount == Decimal("3300.00")
    assert review.summary.price.vat.amount == Decimal("841.50")
    assert review.summary.price.total.amount == Decimal("4141.50")
    assert review.summary.lines[1].upsell


def test_d9_nothing_given_names_all_five_items_in_order():
    review = review_close(CloseTerms(), [])
    assert review.missing == list(SUMMARY_ITEMS)
    assert set(review.problems) == set(SUMMARY_ITEMS)
    assert review.summary is None


@pytest.mark.parametrize(
    ("item", "override"),
    [
        ("content", {"lines": []}),
        ("delivery_schedule", {"delivery_schedule": None}),
        ("price", {"price": None}),
        ("payment_terms", {"payment_terms": None}),
        ("signature", {"signature": None}),
    ],
)
def test_d9_d10_each_missing_item_is_named_alone(item: str, override: dict[str, Any]):
    review = review_close(CloseTerms.model_validate(complete_terms(**override)), [])
    assert review.missing == [item]
    assert review.summary is None


def test_d9_a_line_without_unit_price_is_missing_content():
    terms = complete_terms(lines=[{"product_code": "X", "quantity": "1"}])
    assert review_close(CloseTerms.model_validate(terms), []).missing == ["content"]


def test_d9_mixed_currencies_refuse_the_price():
    lines = complete_terms()["lines"]
    lines[1]["unit_price"] = {"amount": "900.00", "currency": "SEK"}
    review = review_close(CloseTerms.model_validate(complete_terms(lines=lines)), [])
    assert review.missing == ["price"] and "currency" in review.problems["price"]


def test_d9_payment_terms_need_net_days():
    terms = complete_terms(payment_terms={"description": "net"})
    assert review_close(CloseTerms.model_validate(terms), []).missing == ["payment_terms"]


def test_d9_delivery_milestones_count_as_a_schedule():
    terms = complete_terms(
        delivery_schedule={"milestones": [{"on": "2026-04-01", "description": "Licences"}]}
    )
    review = review_close(CloseTerms.model_validate(terms), [])
    assert review.complete
    assert review.summary is not None
    assert review.summary.delivery.milestones[0].on == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("signature", "needs"),
    [
        ({"method": "onsite_signed_form"}, "document_ref"),
        ({"method": "accepted_offer", "offer_ref": "OF-1"}, "accepted_at"),
        ({"method": "e_signature"}, "envelope_id"),
    ],
)
def test_d10_each_signature_method_needs_its_evidence(signature: dict[str, Any], needs: str):
    review = review_close(CloseTerms.model_validate(complete_terms(signature=signature)), [])
    assert review.missing == ["signature"]
    assert needs in review.problems["signature"]


def test_d10_onsite_signed_form_with_document_is_enough():
    sig = {"method": "onsite_signed_form", "document_ref": "ORDER-77"}
    assert review_close(CloseTerms.model_validate(complete_terms(signature=sig)), []).complete


def test_d10_an_accepted_offer_brings_its_lines_and_vat():
    offer = OfferOnFile(
        "OF-9",
        (LineDraft.model_validate(complete_terms()["lines"][0]),),
        Decimal(24),
    )
    terms = complete_terms(
        lines=[],
        price=None,
        signature={
            "method": "accepted_offer",
            "offer_ref": "OF-9",
            "accepted_at": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
        },
    )
    review = review_close(CloseTerms.model_validate(terms), [], {"OF-9": offer})
    assert review.complete and review.summary is not None
    assert review.summary.price.vat_rate == Decimal(24)
    assert review.summary.price.net.amount == Decimal("2400.00")


def test_d7_bundle_rule_applies_at_close():
    rule = BundleRule("bundle-10", BundleKind.UPSELL_BUNDLE, Decimal(10))
    review = review_close(CloseTerms.model_validate(complete_terms()), [rule])
    assert review.summary is not None
    assert review.summary.lines[1].bundle_rule == "bundle-10"
    assert review.summary.price.net.amount == Decimal("3210.00")
