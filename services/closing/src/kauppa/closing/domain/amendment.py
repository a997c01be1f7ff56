"""Amendments after close: lines, delivery schedule, payment terms or VAT change; the
signature stays; the whole new summary travels with a new version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kauppa.closing.domain.close_summary import (
    CONTENT,
    DELIVERY_SCHEDULE,
    PAYMENT_TERMS,
    PRICE,
    DeliveryDraft,
    Draft,
    LineDraft,
    PaymentTermsDraft,
    PriceDraft,
    price_lines,
    price_of,
)
from kauppa.closing.domain.pricing import BundleRule
from kauppa.contracts import DealSummary
from kauppa.contracts.bounds import TEXT_MAX, Percent
from pydantic import Field


class AmendmentDraft(Draft):
    """Only what changes; what is left out stays as agreed."""

    lines: list[LineDraft] | None = Field(None, max_length=200)
    delivery_schedule: DeliveryDraft | None = None
    payment_terms: PaymentTermsDraft | None = None
    vat_rate: Percent | None = None
    change_note: str | None = Field(None, max_length=TEXT_MAX)


@dataclass
class AmendmentReview:
    problems: dict[str, str] = field(default_factory=dict)
    summary: DealSummary | None = None


def amend(
    current: DealSummary, draft: AmendmentDraft, rules: Sequence[BundleRule]
) -> AmendmentReview:
    review = AmendmentReview()
    lines = list(current.lines)
    if draft.lines is not None:
        priced, why = price_lines(draft.lines, rules)
        if priced is None:
            review.problems[CONTENT] = why
        else:
            lines = priced
    delivery = current.delivery
    if draft.delivery_schedule is not None:
        schedule = draft.delivery_schedule.schedule()
        if schedule is None:
            review.problems[DELIVERY_SCHEDULE] = "no delivery date or dated milestones"
        else:
            delivery = schedule
    terms = current.payment_terms
    if draft.payment_terms is not None:
        new_terms = draft.payment_terms.terms()
        if new_terms is None:
            review.problems[PAYMENT_TERMS] = "no payment terms (description and net days)"
        else:
            terms = new_terms
    vat_rate = draft.vat_rate if draft.vat_rate is not None else current.price.vat_rate
    price, why = price_of(lines, PriceDraft(vat_rate=vat_rate))
    if price is None:
        review.problems[PRICE] = why
    if review.problems or price is None:
        return review
    summary = DealSummary(
        lines=lines,
        delivery=delivery,
        price=price,
        payment_terms=terms,
        signature=current.signature,
    )
    if summary == current:
        review.problems["change"] = "the amendment changes nothing"
        return review
    review.summary = summary
    return review
