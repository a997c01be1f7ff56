"""Prices: Decimal, VAT to the cent ROUND_HALF_UP, bundle rules visible on the lines (D7, D9)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kauppa.closing.domain.pricing import (
    BundleKind,
    BundleRule,
    MixedCurrencies,
    PricedLineRequest,
    apply_bundle_rules,
    price_summary,
)
from kauppa.contracts import Money


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def line(
    code: str, qty: str, price: str, upsell: bool = False, discount: str = "0"
) -> PricedLineRequest:
    return PricedLineRequest(
        product_code=code,
        description=code,
        quantity=Decimal(qty),
        unit_price=eur(price),
        discount_percent=Decimal(discount),
        upsell=upsell,
    )


SECOND_UNIT = BundleRule("second-unit-50", BundleKind.SECOND_UNIT, Decimal(50), ("CRM-PRO",))
UPSELL = BundleRule("bundle-10", BundleKind.UPSELL_BUNDLE, Decimal(10))


def test_d9_totals_are_decimal_and_vat_rounds_half_up_to_cents():
    lines = apply_bundle_rules([line("A", "1", "10.02")], [])
    price = price_summary(lines, Decimal("25.5"))
    # 10.02 x 25.5 % = 2.5551 -> 2.56
    assert price.net.amount == Decimal("10.02")
    assert price.vat.amount == Decimal("2.56")
    assert price.total.amount == Decimal("12.58")
    assert price.net.amount + price.vat.amount == price.total.amount


def test_d9_half_cent_vat_rounds_up():
    lines = apply_bundle_rules([line("A", "1", "0.10")], [])
    # 0.10 x 25 % = 0.025 -> 0.03 (banker's rounding would give 0.02)
    assert price_summary(lines, Decimal(25)).vat.amount == Decimal("0.03")


def test_d9_net_is_sum_of_rounded_line_nets():
    lines = apply_bundle_rules([line("A", "3", "0.333"), line("B", "1", "0.335")], [])
    assert [x.line_net.amount for x in lines] == [Decimal("1.00"), Decimal("0.34")]
    assert price_summary(lines, Decimal(0)).net.amount == Decimal("1.34")


def test_d9_one_currency_per_deal():
    sek = PricedLineRequest("B", "B", Decimal(1), Money(amount=Decimal(5), currency="SEK"))
    lines = apply_bundle_rules([line("A", "1", "5"), sek], [])
    with pytest.raises(MixedCurrencies):
        price_summary(lines, Decimal(24))


def test_d7_second_unit_rule_splits_the_line_and_names_the_rule():
    lines = apply_bundle_rules([line("CRM-PRO", "3", "1200.00")], [SECOND_UNIT])
    assert [(x.quantity, x.discount_percent, x.bundle_rule) for x in lines] == [
        (Decimal(1), Decimal(0), None),
        (Decimal(2), Decimal(50), "second-unit-50"),
    ]
    assert price_summary(lines, Decimal(0)).net.amount == Decimal("2400.00")


def test_d7_second_unit_rule_needs_two_units_and_a_covered_product():
    assert apply_bundle_rules([line("CRM-PRO", "1", "100")], [SECOND_UNIT])[0].bundle_rule is None
    assert apply_bundle_rules([line("OTHER", "2", "100")], [SECOND_UNIT])[0].bundle_rule is None


def test_d7_upsell_bundle_discounts_upsell_lines_bought_with_the_main_purchase():
    lines = apply_bundle_rules(
        [line("CRM-PRO", "1", "1000"), line("TRAIN", "1", "900", upsell=True)], [UPSELL]
    )
    assert lines[0].bundle_rule is None and lines[0].line_net.amount == Decimal("1000.00")
    assert lines[1].upsell and lines[1].bundle_rule == "bundle-10"
    assert lines[1].discount_percent == Decimal(10)
    assert lines[1].line_net.amount == Decimal("810.00")


def test_d7_upsell_alone_gets_no_bundle_price():
    lines = apply_bundle_rules([line("TRAIN", "1", "900", upsell=True)], [UPSELL])
    assert lines[0].bundle_rule is None


def test_d7_a_bigger_own_discount_is_kept_and_rules_do_not_stack():
    lines = apply_bundle_rules(
        [line("CRM-PRO", "1", "100"), line("T", "1", "100", upsell=True, discount="20")],
        [UPSELL],
    )
    assert lines[1].discount_percent == Decimal(20) and lines[1].bundle_rule is None


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2),
            st.integers(min_value=1, max_value=20),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([Decimal(0), Decimal(10), Decimal("14"), Decimal("25.5")]),
)
def test_d9_totals_always_add_up(items: list[tuple[Decimal, int]], vat_rate: Decimal) -> None:
    lines = apply_bundle_rules(
        [line(f"P{i}", str(q), str(p)) for i, (p, q) in enumerate(items)], [SECOND_UNIT, UPSELL]
    )
    price = price_summary(lines, vat_rate)
    assert price.net.amount == sum(x.line_net.amount for x in lines)
    assert price.total.amount == price.net.amount + price.vat.amount
    assert price.vat.amount == price.vat.amount.quantize(Decimal("0.01"))
