"""Routing what-if (issue #21, part 3): recorded leads replayed through the live routing
rules against a proposed roster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kauppa.handoff.domain.routing import Absence, LeadProfile, Seller
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.what_if import Outcome, RoutedLead, replay, what_if

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy(reminder_after_hours=1, reassign_after_hours=2)  # clock hours
UNTIL = T0 + timedelta(days=2)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seller(sid: str, **kw: object) -> Seller:
    return Seller(seller_id=sid, organisation_id="org", **kw)  # type: ignore[arg-type]


def lead(
    lid: str, minute: int, region: str = "north", language: str = "fi", **kw: object
) -> RoutedLead:
    return RoutedLead(lid, LeadProfile("org", region, ["crm"], language), at(minute), **kw)  # type: ignore[arg-type]


# The live story, worked out by hand from the routing rules (capacity 1 each; X = 1 h,
# Y = 2 h): L1 -> a; L2 -> b; L3 waits (all at capacity); L1's verdict frees a, who takes
# L3; L2 gets no verdict in 2 h: reminded, then it leaves b and waits (a is full, b let it
# lapse); L3's verdict at its deadline (in time) frees a, who takes L2; L4 is the south's
# (c); L5 speaks Swedish, which nobody does: it waits to the end.
ROSTER = [
    seller("a", capacity=1, languages=["fi"]),
    seller("b", capacity=1, languages=["fi"]),
    seller("c", capacity=5, regions=["south"]),
]
RECORDED = [
    lead("L1", 0, verdict_at=at(30), last_assigned_at=at(0), sellers_tried=("a",), owner="a"),
    lead(
        "L2",
        10,
        verdict_at=at(180),
        last_assigned_at=at(150),
        sellers_tried=("b", "a"),
        owner="a",
        reminders=1,
        reassignments=1,
        times_queued=1,
        queue_reason="all_at_capacity",
    ),
    lead(
        "L3",
        20,
        verdict_at=at(150),
        last_assigned_at=at(30),
        sellers_tried=("a",),
        owner="a",
        reminders=1,
        times_queued=1,
        queue_reason="all_at_capacity",
    ),
    lead(
        "L4",
        200,
        region="south",
        verdict_at=at(210),
        last_assigned_at=at(200),
        sellers_tried=("c",),
        owner="c",
    ),
    lead(
        "L5",
        220,
        region="east",
        language="sv",
        times_queued=1,
        queue_reason="no_seller_for_language",
        waiting=True,
    ),
]


def test_an_unchanged_roster_reproduces_what_happened_exactly() -> None:
    result = what_if(RECORDED, ROSTER, ROSTER, POLICY, UNTIL)
    assert result.owner_changed == 0 and result.first_seller_changed == 0
    for observed, replayed in zip(RECORDED, result.outcomes, strict=True):
        assert replayed.sellers_tried == list(observed.sellers_tried), observed.lead_id
        assert (replayed.owner, replayed.reminders, replayed.reassignments) == (
            observed.owner,
            observed.reminders,
            observed.reassignments,
        ), observed.lead_id
        assert (replayed.times_queued, replayed.queue_reason, replayed.waiting) == (
            observed.times_queued,
            observed.queue_reason,
            observed.waiting,
        ), observed.lead_id
    assert result.actual.as_dict() == result.proposed.as_dict()
    assert result.proposed.reminders == 2 and result.proposed.reassignments == 1
    assert result.proposed.waiting_by_reason == {"no_seller_for_language": 1}


def test_the_replay_does_not_touch_the_roster_it_is_given() -> None:
    replay(RECORDED, ROSTER, POLICY, UNTIL)
    assert all(s.open_leads == 0 and s.last_assigned_seq == 0 for s in ROSTER)


def as_recorded(leads: list[RoutedLead], outcomes: list[Outcome]) -> list[RoutedLead]:
    """Leads with what became of them (from a replay checked against the hand-worked
    story above)."""
    return [
        replace(
            f,
            sellers_tried=tuple(o.sellers_tried),
            owner=o.owner,
            last_assigned_at=f.arrived_at,
            times_queued=o.times_queued,
            queue_reason=o.queue_reason,
            waiting=o.waiting,
        )
        for f, o in zip(leads, outcomes, strict=True)
    ]


def test_removing_a_seller_moves_exactly_that_sellers_leads_and_marks_who_nobody_takes() -> None:
    # The west has two specialists (b and d, capacity 2); the rest go to a. Verdicts come
    # an hour after each lead, so b and d alternate on the west's leads.
    roster = [
        seller("a", regions=["north"]),
        seller("b", regions=["west"], capacity=2),
        seller("d", regions=["west"], capacity=2),
    ]
    leads = []
    for i in range(8):
        region = "west" if i % 4 else "north"
        lid = f"L{i}"
        leads.append(lead(lid, i * 5, region=region, verdict_at=at(i * 5 + 60)))
    live = replay(leads, roster, POLICY, UNTIL)
    recorded = as_recorded(leads, live)
    owners = {f.lead_id: f.owner for f in recorded}
    assert owners == {
        "L0": "a", "L1": "b", "L2": "d", "L3": "b", "L4": "a", "L5": "d", "L6": "b", "L7": "d",
    }  # fmt: skip
    # (b and d are full from L5 until the first verdict at minute 65: L6 and L7 wait and
    # are assigned then.)
    assert [o.times_queued for o in live[6:]] == [1, 1]

    without_b = [s for s in roster if s.seller_id != "b"]
    result = what_if(recorded, roster, without_b, POLICY, UNTIL)
    # Exactly b's leads change hands, all to d; nobody else's lead moves.
    assert {c.lead_id: (c.actual, c.proposed) for c in result.changes} == {
        "L1": ("b", "d"),
        "L3": ("b", "d"),
        "L6": ("b", "d"),
    }
    assert result.owner_changed == 3 and "b" not in result.proposed.owned
    assert result.proposed.owned == {"a": 2, "d": 6}
    # d alone is full more often: four of the west's leads wait for her, none for good.
    assert result.actual.queued_by_reason == {"all_at_capacity": 2}
    assert result.proposed.queued_by_reason == {"all_at_capacity": 4}
    assert result.proposed.waiting == 0
    table = {r["seller_id"]: (r["actual"], r["proposed"]) for r in result.as_dict()["sellers"]}
    assert table == {"a": (2, 2), "b": (3, 0), "d": (3, 6)}


def test_a_region_nobody_covers_any_more_marks_its_leads_with_the_reason() -> None:
    roster = [seller("a", regions=["north"]), seller("w", regions=["west"])]
    leads = [
        lead(f"L{i}", i, region="west" if i % 2 else "north", verdict_at=at(i + 30))
        for i in range(6)
    ]
    live = replay(leads, roster, POLICY, UNTIL)
    recorded = as_recorded(leads, live)
    result = what_if(recorded, roster, roster[:1], POLICY, UNTIL)
    assert result.owner_changed == 3
    assert {c.lead_id for c in result.changes} == {"L1", "L3", "L5"}
    assert all(c.actual == "w" and c.proposed is None for c in result.changes)
    assert {c.proposed_reason for c in result.changes} == {"no_seller_for_region"}
    assert result.proposed.waiting_by_reason == {"no_seller_for_region": 3}
    assert result.actual.waiting == 0


def test_a_late_verdict_under_a_smaller_roster_means_reminders_and_reassignments() -> None:
    # One lead, its verdict 3 h after arrival: live, a seller of capacity 1 held it... the
    # proposal: two sellers; after Y = 2 h the lead moves from a to b, then the verdict
    # comes (from b).
    roster = [seller("a"), seller("b")]
    recorded = [
        lead("L1", 0, verdict_at=at(180), last_assigned_at=at(0), sellers_tried=("a",), owner="a")
    ]
    (out,) = replay(recorded, roster, POLICY, UNTIL)
    assert out.sellers_tried == ["a", "b"] and out.owner == "b"
    assert out.reminders == 1 and out.reassignments == 1
    # Alone, a lets it lapse and nobody else may take it: it waits, the SLA named.
    (alone,) = replay(recorded, roster[:1], POLICY, UNTIL)
    assert alone.owner is None and alone.waiting and alone.queue_reason == "all_sla_expired"


def test_a_verdict_that_comes_while_the_lead_waits_comes_after_the_observed_delay() -> None:
    # a is absent until 10:00; the lead waits, and is assigned when the absence ends.
    # Its verdict was observed 30 min after assignment: it comes at 10:30 and frees a.
    away = seller("a", absences=[Absence(T0 - timedelta(days=1), at(60))])
    recorded = [
        lead("L1", 0, verdict_at=at(30), last_assigned_at=at(0), sellers_tried=("x",), owner="x"),
        lead("L2", 100),
    ]
    out = replay(recorded, [replace(away, capacity=1)], POLICY, UNTIL)
    assert out[0].sellers_tried == ["a"] and out[0].queue_reason == "all_absent"
    assert out[0].reminders == 0 and out[0].reassignments == 0
    assert out[1].sellers_tried == ["a"]  # the verdict at 10:30 freed a before L2 came


def test_events_after_the_horizon_are_not_played() -> None:
    recorded = [lead("L1", 0)]
    (out,) = replay(recorded, [seller("a")], POLICY, at(90))
    assert out.owner == "a" and out.reminders == 1 and out.reassignments == 0
