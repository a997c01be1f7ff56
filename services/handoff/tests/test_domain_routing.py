"""Routing rules: territory, product line, language, capacity, absence, round-robin."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from kauppa.handoff.domain.routing import Absence, LeadProfile, Rotation, Seller, choose_seller

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
