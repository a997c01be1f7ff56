"""Prices (D7, D9): Decimal line nets, bundle rules applied visibly, VAT to the cent.

Rounding: each line net and the VAT are rounded to cents ROUND_HALF_UP; the net is the
sum of the rounded line nets and the total is net + VAT, so the printed figures add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from kauppa.contracts import LineItem, Money, PriceSummary

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class BundleKind(StrEnum):
    SECOND_UNIT = "second_unit"
    """Units after the first of a product get the discount (the line is split in two)."""
    UPSELL_BUNDLE = "upsell_bundle"
    """An upsell line bought together with the main purchase gets the discount."""


@dataclass(frozen=True)
class BundleRule:
    """An organisation's bundle price: "order the second one too and you get X % off"."""

    rule_id: str
    kind: BundleKind
    percent_off: Decimal
    products: tuple[str, ...] = ()  # empty: every product
    description: str = ""

    def covers(self, product_code: str) -> bool:
        return not self.products or product_code in self.products


@dataclass(frozen=True)
class PricedLineRequest:
    """A complete line as the seller entered it, before bundle rules."""

    product_code: str
    description: str
    quantity: Decimal
    unit_price: Money
    discount_percent: Decimal = Decimal(0)
    upsell: bool = False


class MixedCurrencies(ValueError):
    """A deal is priced in one currency."""


def line_net(quantity: Decimal, unit_price: Money, discount_percent: Decimal) -> Money:
    gross = quantity * unit_price.amount
    return Money(
        amount=to_cents(gross * (HUNDRED - discount_percent) / HUNDRED),
        currency=unit_price.currency,
    )


def _item(
    req: PricedLineRequest, quantity: Decimal, discount: Decimal, rule: str | None
) -> LineItem:
    return LineItem(
        product_code=req.product_code,
        description=req.description,
        quantity=quantity,
        unit_price=req.unit_price,
        discount_percent=discount,
        upsell=req.upsell,
        bundle_rule=rule,
        line_net=line_net(quantity, req.unit_price, discount),
    )


def apply_bundle_rules(
    lines: Sequence[PricedLineRequest], rules: Sequence[BundleRule]
) -> list[LineItem]:
    """Price the lines. Rules are tried in the organisation's order; the first one that
    applies and beats the seller's own discount sets the line's discount and is named
    on the line (``bundle_rule``). Rules do not stack. A second-unit rule splits the line
    into the first unit at the normal price and the rest at the bundle price, so the
    customer sees exactly what the bundle gave."""
    has_main_purchase = any(not line.upsell for line in lines)
    priced: list[LineItem] = []
    for line in lines:
        chosen: BundleRule | None = None
        for rule in rules:
            if not rule.covers(line.product_code) or rule.percent_off <= line.discount_percent:
                continue
            if rule.kind is BundleKind.SECOND_UNIT and line.quantity >= 2:
                chosen = rule
                break
            if rule.kind is BundleKind.UPSELL_BUNDLE and line.upsell and has_main_purchase:
                chosen = rule
                break
        if chosen is None:
            priced.append(_item(line, line.quantity, line.discount_percent, None))
        elif chosen.kind is BundleKind.SECOND_UNIT:
            priced.append(_item(line, Decimal(1), line.discount_percent, None))
            priced.append(_item(line, line.quantity - 1, chosen.percent_off, chosen.rule_id))
        else:
            priced.append(_item(line, line.quantity, chosen.percent_off, chosen.rule_id))
    return priced


def single_currency(lines: Sequence[LineItem]) -> str:
    currencies = sorted({line.unit_price.currency for line in lines})
    if len(currencies) != 1:
        raise MixedCurrencies(f"one currency per deal; the lines use {', '.join(currencies)}")
    return currencies[0]


def price_summary(lines: Sequence[LineItem], vat_rate: Decimal) -> PriceSummary:
    """Net = sum of line nets; VAT = net x rate, to the cent; total = net + VAT."""
    currency = single_currency(lines)
    net = sum((line.line_net.amount for line in lines), Decimal("0.00"))
    vat = to_cents(net * vat_rate / HUNDRED)
    return PriceSummary(
        net=Money(amount=to_cents(net), currency=currency),
        vat=Money(amount=vat, currency=currency),
        total=Money(amount=to_cents(net) + vat, currency=currency),
        vat_rate=vat_rate,
    )
