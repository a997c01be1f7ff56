"""The close (D9, D10): a deal closes won only with the whole summary. Every missing
item is named, so the seller can fix them all at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from kauppa.closing.domain.pricing import (
    BundleRule,
    MixedCurrencies,
    PricedLineRequest,
    apply_bundle_rules,
    price_summary,
)
from kauppa.contracts import (
    DealSummary,
    DeliveryMilestone,
    DeliverySchedule,
    LineItem,
    Money,
    PaymentTerms,
    PriceSummary,
    Referral,
    SignatureEvidence,
    SignatureMethod,
)
from kauppa.contracts.bounds import Percent, PositiveAmount
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CONTENT = "content"
DELIVERY_SCHEDULE = "delivery_schedule"
PRICE = "price"
PAYMENT_TERMS = "payment_terms"
SIGNATURE = "signature"
SUMMARY_ITEMS = (CONTENT, DELIVERY_SCHEDULE, PRICE, PAYMENT_TERMS, SIGNATURE)


class Draft(BaseModel):
    """What a seller typed: every part optional, so what is missing can be named."""

    model_config = ConfigDict(extra="forbid")


class LineDraft(Draft):
    product_code: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=1000)
    quantity: PositiveAmount | None = None
    unit_price: Money | None = None
    discount_percent: Percent = Decimal(0)
    upsell: bool = Field(False, description="Added at closing (D7)")

    def complete(self) -> PricedLineRequest | None:
        if not self.product_code or self.quantity is None or self.unit_price is None:
            return None
        return PricedLineRequest(
            product_code=self.product_code,
            description=self.description or self.product_code,
            quantity=self.quantity,
            unit_price=self.unit_price,
            discount_percent=self.discount_percent,
            upsell=self.upsell,
        )


class DeliveryDraft(Draft):
    """A single delivery date, or dated milestones."""

    on: date | None = None
    milestones: list[DeliveryMilestone] = Field(default_factory=list, max_length=100)

    def schedule(self) -> DeliverySchedule | None:
        milestones = list(self.milestones)
        if self.on is not None:
            milestones.insert(0, DeliveryMilestone(on=self.on, description="Delivery"))
        return DeliverySchedule(milestones=milestones) if milestones else None


class PriceDraft(Draft):
    """The price basis both sides agreed; net, VAT and total are computed from the lines."""

    vat_rate: Percent | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class PaymentTermsDraft(Draft):
    description: str | None = Field(None, max_length=1000)
    net_days: int | None = Field(None, ge=0)

    def terms(self) -> PaymentTerms | None:
        if not self.description or not self.description.strip() or self.net_days is None:
            return None
        return PaymentTerms(description=self.description.strip(), net_days=self.net_days)


class SignatureDraft(Draft):
    method: SignatureMethod | None = None
    signed_by: str | None = Field(None, max_length=200)
    document_ref: str | None = Field(None, max_length=200)
    offer_ref: str | None = Field(None, max_length=128)
    accepted_at: AwareDatetime | None = None
    envelope_id: str | None = Field(None, max_length=200)
    document_url: str | None = Field(None, max_length=2000, description="https (http locally)")


class CloseTerms(Draft):
    """The close command: the summary (D9), the signature (D10), upsell lines among the
    lines (D7) and the referrals asked for at closing (D8)."""

    lines: list[LineDraft] = Field(default_factory=list, max_length=200)
    delivery_schedule: DeliveryDraft | None = None
    price: PriceDraft | None = None
    payment_terms: PaymentTermsDraft | None = None
    signature: SignatureDraft | None = None
    customer_reference: str | None = Field(None, max_length=200)
    referrals: list[Referral] = Field(default_factory=list, max_length=50)


@dataclass(frozen=True)
class OfferOnFile:
    """An offer the seller sent: an accepted offer binds its lines and price (D10)."""

    offer_ref: str
    lines: tuple[LineDraft, ...]
    vat_rate: Decimal


@dataclass
class CloseReview:
    missing: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    summary: DealSummary | None = None

    def refuse(self, item: str, why: str) -> None:
        if item not in self.missing:
            self.missing.append(item)
            self.problems[item] = why

    @property
    def complete(self) -> bool:
        return not self.missing and self.summary is not None


def signature_evidence(draft: SignatureDraft | None) -> tuple[SignatureEvidence | None, str]:
    """D10: on-site signed form needs its document; an accepted offer its reference and
    acceptance time; an e-signature its envelope."""
    if draft is None or draft.method is None:
        return None, "no signature evidence: how did the customer commit?"
    method = draft.method
    needs = {
        SignatureMethod.ONSITE_SIGNED_FORM: ("document_ref",),
        SignatureMethod.ACCEPTED_OFFER: ("offer_ref", "accepted_at"),
        SignatureMethod.E_SIGNATURE: ("envelope_id",),
    }[method]
    absent = [name for name in needs if not getattr(draft, name)]
    if absent:
        return None, f"{method.value} needs {', '.join(absent)}"
    return SignatureEvidence(**draft.model_dump()), ""


def price_lines(
    drafts: Sequence[LineDraft], rules: Sequence[BundleRule]
) -> tuple[list[LineItem] | None, str]:
    if not drafts:
        return None, "no line items"
    complete = [d.complete() for d in drafts]
    incomplete = [i + 1 for i, c in enumerate(complete) if c is None]
    if incomplete:
        return None, f"line(s) {incomplete} need product_code, quantity and unit_price"
    return apply_bundle_rules([c for c in complete if c is not None], rules), ""


def price_of(
    lines: Sequence[LineItem], draft: PriceDraft | None
) -> tuple[PriceSummary | None, str]:
    if draft is None or draft.vat_rate is None:
        return None, "no VAT rate agreed: net, VAT and total cannot be stated"
    try:
        price = price_summary(lines, draft.vat_rate)
    except MixedCurrencies as exc:
        return None, str(exc)
    if draft.currency and draft.currency != price.net.currency:
        return None, f"price agreed in {draft.currency} but the lines are in {price.net.currency}"
    return price, ""


def review_close(
    terms: CloseTerms,
    rules: Sequence[BundleRule],
    offers: Mapping[str, OfferOnFile] | None = None,
) -> CloseReview:
    """Check the five items of D9 + D10; build the summary when all are there. Lines and
    the VAT rate not given again are taken from the accepted offer the signature names."""
    review = CloseReview()
    line_drafts, price_draft = list(terms.lines), terms.price
    sig = terms.signature
    if sig and sig.method is SignatureMethod.ACCEPTED_OFFER and sig.offer_ref and offers:
        offer = offers.get(sig.offer_ref)
        if offer is not None:
            line_drafts = line_drafts or list(offer.lines)
            if price_draft is None or price_draft.vat_rate is None:
                currency = price_draft.currency if price_draft else None
                price_draft = PriceDraft(vat_rate=offer.vat_rate, currency=currency)

    lines, why = price_lines(line_drafts, rules)
    if lines is None:
        review.refuse(CONTENT, why)
    schedule = terms.delivery_schedule.schedule() if terms.delivery_schedule else None
    if schedule is None:
        review.refuse(DELIVERY_SCHEDULE, "no delivery date or dated milestones")
    price: PriceSummary | None = None
    if lines:
        price, why = price_of(lines, price_draft)
        if price is None:
            review.refuse(PRICE, why)
    elif price_draft is None or price_draft.vat_rate is None:
        # Without lines there is nothing to price; only an absent price basis is named.
        review.refuse(PRICE, "no VAT rate agreed: net, VAT and total cannot be stated")
    payment = terms.payment_terms.terms() if terms.payment_terms else None
    if payment is None:
        review.refuse(PAYMENT_TERMS, "no payment terms (description and net days)")
    signature, why = signature_evidence(sig)
    if signature is None:
        review.refuse(SIGNATURE, why)

    if lines and schedule and price and payment and signature:
        review.summary = DealSummary(
            lines=lines,
            delivery=schedule,
            price=price,
            payment_terms=payment,
            signature=signature,
        )
    review.missing.sort(key=SUMMARY_ITEMS.index)
    return review
