"""Routing rules: territory, product line, language, capacity, absence, round-robin."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from kauppa.contracts import QueueReason
from kauppa.handoff.domain.routing import (
    Absence,
    LeadProfile,
    NoSeller,
    Rotation,
    Seller,
    choose_seller,
    route,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEAD = LeadProfile("org", region="Uusimaa", products=["crm"], language="fi")


def seller(sid: str, **kw: object) -> Seller:
    return Seller(seller_id=sid, organisation_id="org", **kw)  # type: ignore[arg-type]


def test_routing_territory_product_and_language_rules() -> None:
    sellers = [
        seller("wrong-region", regions=["Pirkanmaa"]),
        seller("wrong-product", products=["erp"]),
        seller("wrong-language", languages=["sv"]),
        seller("fits", regions=["uusimaa"], products=["CRM", "erp"], languages=["fi", "en"]),
    ]
    assert choose_seller(sellers, LEAD, NOW).seller_id == "fits"  # type: ignore[union-attr]


def test_routing_other_organisation_absent_inactive_and_full_sellers_are_skipped() -> None:
    sellers = [
        Seller(seller_id="other-org", organisation_id="org-2"),
        seller("absent", absences=[Absence(NOW - timedelta(days=1), NOW + timedelta(days=1))]),
        seller("inactive", active=False),
        seller("full", capacity=2, open_leads=2),
    ]
    assert choose_seller(sellers, LEAD, NOW) is None
    back = seller("back", absences=[Absence(NOW - timedelta(days=2), NOW)])
    assert choose_seller([*sellers, back], LEAD, NOW).seller_id == "back"  # type: ignore[union-attr]


def test_routing_fair_round_robin_within_capacity() -> None:
    sellers = [seller(s, capacity=40) for s in ("a", "b", "c")]
    rotation = Rotation()
    counts: Counter[str] = Counter()
    for _ in range(100):
        chosen = choose_seller(sellers, LEAD, NOW)
        assert chosen is not None
        rotation.assign(chosen)
        counts[chosen.seller_id] += 1
    assert sorted(counts.values()) == [33, 33, 34]
    assert all(s.open_leads <= s.capacity for s in sellers)


def test_routing_capacity_then_nobody_and_exclusion() -> None:
    sellers = [seller("a", capacity=1), seller("b", capacity=1)]
    rotation = Rotation()
    for _ in range(2):
        rotation.assign(choose_seller(sellers, LEAD, NOW))  # type: ignore[arg-type]
    assert choose_seller(sellers, LEAD, NOW) is None
    Rotation.release(sellers[0])
    assert choose_seller(sellers, LEAD, NOW, exclude=["a"]) is None
    assert choose_seller(sellers, LEAD, NOW).seller_id == "a"  # type: ignore[union-attr]


def _why(sellers: list[Seller], lead: LeadProfile = LEAD, **kw: object) -> NoSeller:
    assert choose_seller(sellers, lead, NOW, **kw) is None  # type: ignore[arg-type]
    why = route(sellers, lead, NOW, **kw)  # type: ignore[arg-type]
    assert isinstance(why, NoSeller)
    return why


def test_queue_reason_no_active_seller() -> None:
    why = _why([seller("gone", active=False), Seller(seller_id="x", organisation_id="org-2")])
    assert why.reason == QueueReason.NO_ACTIVE_SELLER


def test_queue_reason_region_product_language_in_that_order() -> None:
    wrong_region = seller("r", regions=["Pirkanmaa"])
    wrong_product = seller("p", regions=["Uusimaa"], products=["erp"])
    wrong_language = seller("l", products=["crm"], languages=["sv"])
    why = _why([wrong_region])
    assert why.reason == QueueReason.NO_SELLER_FOR_REGION
    assert "'Uusimaa'" in why.detail
    why = _why([wrong_region, wrong_product])
    assert why.reason == QueueReason.NO_SELLER_FOR_PRODUCT
    assert "'crm'" in why.detail
    why = _why([wrong_region, wrong_product, wrong_language])
    assert why.reason == QueueReason.NO_SELLER_FOR_LANGUAGE
    assert "'fi'" in why.detail


def test_queue_reason_all_absent() -> None:
    away = [Absence(NOW - timedelta(days=1))]
    why = _why([seller("a", absences=away), seller("b", absences=away), seller("x", regions=["x"])])
    assert why.reason == QueueReason.ALL_ABSENT
    assert "all 2 seller(s)" in why.detail


def test_queue_reason_all_at_capacity_names_the_absent_too() -> None:
    away = [Absence(NOW - timedelta(days=1))]
    why = _why([seller("full", capacity=1, open_leads=1), seller("away", absences=away)])
    assert why.reason == QueueReason.ALL_AT_CAPACITY
    assert "1 present" in why.detail and "1 more absent" in why.detail


def test_queue_reason_all_let_the_sla_lapse() -> None:
    why = _why([seller("a"), seller("b", regions=["Lappi"])], exclude=["a"])
    assert why.reason == QueueReason.ALL_SLA_EXPIRED


def test_route_returns_the_chosen_seller_when_there_is_one() -> None:
    chosen = route([seller("a", capacity=0), seller("b")], LEAD, NOW)
    assert isinstance(chosen, Seller) and chosen.seller_id == "b"
