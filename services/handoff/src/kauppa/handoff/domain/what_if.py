"""Routing what-if: the organisation's recorded leads replayed against a proposed roster.

Each lead routed in the window (not the gate's rejections, not linked duplicates) arrives
again at the moment it was first routed, in the recorded order, and goes through the same
rules as live routing (``routing.choose_seller`` / ``why_queued``). Capacity is taken at
assignment and freed at the lead's *observed* verdict time, or when its SLA lapses; the
SLA is the live one (``SlaPolicy``): a reminder at X hours, and at Y hours the lead moves to
the next eligible seller who has not let it lapse (or to the unassigned queue). The queue
moves when live handoff moves it: when a lead arrives, a verdict frees a seller, or an
absence ends; oldest first, at most ``QUEUE_DRAIN_LIMIT`` leads per pass.

Assumptions, stated because they are the replay's limits:
- A verdict comes at the observed time from whoever holds the lead then. A lead the
  proposal leaves queued at that moment gets its verdict when assigned later, after the
  delay the last observed seller took.
- The proposed roster holds for the whole window (roster changes made during the window
  are not replayed) and starts empty: no open leads, the rotation from the start.
- Duplicate links and the gate are taken as observed (they do not depend on sellers).

Pure: no I/O, no clock. The caller loads the facts and the roster.
"""

from __future__ import annotations

import heapq
import statistics
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from kauppa.handoff.domain.routing import (
    LeadProfile,
    Rotation,
    Seller,
    choose_seller,
    covers,
    why_queued,
)
from kauppa.handoff.domain.sla import SlaPolicy

QUEUE_DRAIN_LIMIT = 500  # as live handoff: the oldest 500 queued leads per pass
CHANGES_SHOWN = 100

# Event kinds, in the order they run when they fall on the same instant: a verdict at
# the very moment of a deadline counts as in time (live handoff recorded it, so it came
# first); leads arrive last.
_VERDICT, _REMIND, _REASSIGN, _ABSENCE_END, _ARRIVE = range(5)


@dataclass(frozen=True)
class RoutedLead:
    """One routed lead as handoff recorded it: what routing needs, when and in which
    order it was first routed, when its verdict came, and what became of it."""

    lead_id: str
    profile: LeadProfile
    arrived_at: datetime
    order: int = 0  # its place among leads routed at the same instant
    verdict_at: datetime | None = None
    last_assigned_at: datetime | None = None  # start of the attempt the verdict ended
    # Observed:
    sellers_tried: tuple[str, ...] = ()  # one per assignment, in order
    owner: str | None = None  # who holds it or gave the verdict; None: in the queue
    reminders: int = 0
    reassignments: int = 0
    times_queued: int = 0
    queue_reason: str | None = None  # why it last waited
    waiting: bool = False  # in the unassigned queue now


@dataclass
class Outcome:
    """What became of one lead (observed, or in the replay)."""

    lead_id: str
    sellers_tried: list[str] = field(default_factory=list)
    owner: str | None = None
    reminders: int = 0
    reassignments: int = 0
    times_queued: int = 0
    queue_reason: str | None = None
    waiting: bool = False

    @classmethod
    def observed(cls, lead: RoutedLead) -> Outcome:
        return cls(
            lead.lead_id,
            list(lead.sellers_tried),
            lead.owner,
            lead.reminders,
            lead.reassignments,
            lead.times_queued,
            lead.queue_reason,
            lead.waiting,
        )


@dataclass
class _Lead:
    fact: RoutedLead
    out: Outcome
    seller: Seller | None = None
    attempt: int = 0
    expired: list[str] = field(default_factory=list)
    done: bool = False
    deferred: timedelta | None = None  # a verdict that came while it waited in the queue
    key: tuple[object, ...] | None = None  # its routing keys and lapsed sellers (cached)
    qseq: int = 0  # its place in the queue (this stay)

    def routing_key(self) -> tuple[object, ...]:
        if self.key is None:
            region, products, language = self.fact.profile.keys
            self.key = (region, frozenset(products), language, tuple(self.expired))
        return self.key


class _Replay:
    def __init__(self, sellers: Sequence[Seller], policy: SlaPolicy) -> None:
        self.sellers = list(sellers)
        self.policy = policy
        self.rotation = Rotation()
        self.queue: OrderedDict[str, _Lead] = OrderedDict()
        self.events: list[tuple[datetime, int, int, _Lead | None, int]] = []
        self.seq = 0
        self.dirty = False  # capacity freed or an absence ended since the last pass
        # Per routing key, the active sellers who cover it and have not let it lapse: the
        # part of eligibility that never changes, so a queue pass skips at C speed the
        # leads that none of the sellers with room could take.
        self.covering: dict[tuple[object, ...], frozenset[str]] = {}
        # The queue by routing key, each in queue order (entries left behind by a lead
        # that moved on are dropped when met), so a pass looks at a few keys, not 500 leads.
        self.by_key: dict[tuple[object, ...], deque[tuple[int, _Lead]]] = {}
        self.qseq = 0

    def push(self, at: datetime, kind: int, lead: _Lead | None, attempt: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, kind, self.seq, lead, attempt))

    def run(self, leads: Sequence[RoutedLead], until: datetime) -> list[Outcome]:
        ordered = sorted(leads, key=lambda f: (f.arrived_at, f.order, f.lead_id))
        states = [_Lead(f, Outcome(f.lead_id)) for f in ordered]
        for i, st in enumerate(states):
            self.events.append((st.fact.arrived_at, _ARRIVE, i, st, 0))
            if st.fact.verdict_at is not None:
                self.events.append((st.fact.verdict_at, _VERDICT, i, st, 0))
        self.seq = len(states)
        for s in self.sellers:
            for a in s.absences:
                if a.end is not None and a.end <= until:
                    self.events.append((a.end, _ABSENCE_END, self.seq, None, 0))
                    self.seq += 1
        heapq.heapify(self.events)
        while self.events and self.events[0][0] <= until:
            at, kind, _, lead, attempt = heapq.heappop(self.events)
            if lead is None:  # an absence ended
                self.dirty = True
                self.drain(at)
            elif kind == _ARRIVE:
                self.drain(at)
                self.route(lead, at)
            elif kind == _VERDICT:
                self.verdict(lead, at)
            elif lead.seller is None or lead.attempt != attempt:
                continue  # a deadline of an attempt that has ended
            elif kind == _REMIND:
                lead.out.reminders += 1
            else:
                self.lapse(lead, at)
        for st in states:
            st.out.waiting = st.fact.lead_id in self.queue
        return [st.out for st in states]

    def route(self, st: _Lead, now: datetime) -> None:
        chosen = choose_seller(self.sellers, st.fact.profile, now, st.expired)
        if chosen is None:
            self.enqueue(st, now)
        else:
            self.assign(st, chosen, now)

    def assign(self, st: _Lead, seller: Seller, now: datetime) -> None:
        self.rotation.assign(seller)
        self.queue.pop(st.fact.lead_id, None)
        st.seller, st.attempt = seller, st.attempt + 1
        st.out.sellers_tried.append(seller.seller_id)
        st.out.owner = seller.seller_id
        self.push(self.policy.reminder_at(now), _REMIND, st, st.attempt)
        self.push(self.policy.respond_by(now), _REASSIGN, st, st.attempt)
        if st.deferred is not None:
            self.push(now + st.deferred, _VERDICT, st)
            st.deferred = None

    def enqueue(self, st: _Lead, now: datetime) -> None:
        st.seller, st.out.owner = None, None
        if st.fact.lead_id in self.queue:
            return
        why = why_queued(self.sellers, st.fact.profile, now, st.expired)
        st.out.times_queued += 1
        st.out.queue_reason = why.reason.value
        self.queue[st.fact.lead_id] = st
        self.qseq += 1
        st.qseq = self.qseq
        key = st.routing_key()
        self._covering(st)
        self.by_key.setdefault(key, deque()).append((st.qseq, st))

    def release(self, st: _Lead) -> None:
        assert st.seller is not None
        Rotation.release(st.seller)
        st.seller = None
        self.dirty = True

    def verdict(self, st: _Lead, now: datetime) -> None:
        if st.done:
            return
        if st.seller is None:  # waiting in the queue (or not arrived): later, if ever
            observed = st.fact.verdict_at, st.fact.last_assigned_at
            delay = observed[0] - observed[1] if observed[0] and observed[1] else timedelta(0)
            st.deferred = max(delay, timedelta(0))
            return
        self.release(st)
        st.done = True
        self.drain(now)

    def lapse(self, st: _Lead, now: datetime) -> None:
        """Y hours without a verdict: the next eligible seller, or the queue (live
        handoff does not move the queue here)."""
        assert st.seller is not None
        previous = st.seller.seller_id
        self.release(st)
        if previous not in st.expired:
            st.expired.append(previous)
            st.key = None
        st.out.reassignments += 1
        self.route(st, now)

    def drain(self, now: datetime) -> None:
        """A pass over the oldest ``QUEUE_DRAIN_LIMIT`` queued leads, in order, each
        assigned if a seller can take it now. Done as: the oldest lead of that window that
        some seller with room covers, again and again (a lead passed over cannot be
        taken later in the same pass: sellers only fill up)."""
        if not self.queue or not self.dirty:
            return
        self.dirty = False
        window = deque(islice(self.queue.values(), QUEUE_DRAIN_LIMIT), maxlen=1)
        last = window[0].qseq
        free = self._free(now)
        while free:
            free_ids = {s.seller_id for s in free}
            oldest: tuple[int, _Lead] | None = None
            for key, waiting in list(self.by_key.items()):
                while waiting and not self._queued(*waiting[0]):
                    waiting.popleft()
                if not waiting:
                    del self.by_key[key]
                elif (
                    waiting[0][0] <= last
                    and (oldest is None or waiting[0][0] < oldest[0])
                    and not self.covering[key].isdisjoint(free_ids)
                ):
                    oldest = waiting[0]
            if oldest is None:
                return
            st = oldest[1]
            chosen = choose_seller(free, st.fact.profile, now, st.expired)
            assert chosen is not None, "a free seller covers the lead"
            self.assign(st, chosen, now)
            free = self._free(now)

    def _queued(self, qseq: int, st: _Lead) -> bool:
        return st.qseq == qseq and st.fact.lead_id in self.queue

    def _covering(self, st: _Lead) -> frozenset[str]:
        key = st.routing_key()
        found = self.covering.get(key)
        if found is None:
            skip = set(st.expired)
            found = self.covering[key] = frozenset(
                s.seller_id
                for s in self.sellers
                if s.active and s.seller_id not in skip and covers(s, st.fact.profile)
            )
        return found

    def _free(self, now: datetime) -> list[Seller]:
        """Sellers who could take a lead now (the only ones ``choose_seller`` can pick)."""
        return [s for s in self.sellers if s.active and s.has_room() and not s.is_absent(now)]


def fresh(sellers: Iterable[Seller]) -> list[Seller]:
    """The roster as the replay starts it: nobody holds a lead, the rotation from zero."""
    return [
        replace(s, open_leads=0, last_assigned_seq=0, absences=list(s.absences))
        for s in sorted(sellers, key=lambda s: s.seller_id)
    ]


def replay(
    leads: Sequence[RoutedLead], roster: Iterable[Seller], policy: SlaPolicy, until: datetime
) -> list[Outcome]:
    """What would have become of each lead (arrival order) with this roster, up to
    ``until`` (events after it are not played)."""
    return _Replay(fresh(roster), policy).run(leads, until)


# ------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Spread:
    sellers: int
    min: int
    max: int
    mean: float
    stdev: float  # population standard deviation of leads per seller

    @classmethod
    def of(cls, counts: Sequence[int]) -> Spread:
        if not counts:
            return cls(0, 0, 0, 0.0, 0.0)
        return cls(
            len(counts),
            min(counts),
            max(counts),
            round(statistics.fmean(counts), 2),
            round(statistics.pstdev(counts), 2),
        )


@dataclass
class Side:
    """One column of the comparison: what happened, or what would have."""

    assigned: Counter[str]  # assignments per seller (a reassigned lead counts for each)
    owned: Counter[str]  # leads per seller at the end: verdict given or still held
    spread: Spread
    queued: int  # leads that waited for a seller at least once
    queued_by_reason: Counter[str]
    waiting: int  # still nobody at the end
    waiting_by_reason: Counter[str]
    reminders: int
    reassignments: int

    @classmethod
    def of(cls, outcomes: Sequence[Outcome], roster: Iterable[str]) -> Side:
        assigned: Counter[str] = Counter()
        for o in outcomes:
            assigned.update(o.sellers_tried)
        owned = Counter(o.owner for o in outcomes if o.owner is not None)
        names = set(roster) | set(owned)
        return cls(
            assigned=assigned,
            owned=owned,
            spread=Spread.of([owned.get(s, 0) for s in sorted(names)]),
            queued=sum(1 for o in outcomes if o.times_queued),
            queued_by_reason=Counter(o.queue_reason for o in outcomes if o.times_queued),  # type: ignore[misc]
            waiting=sum(1 for o in outcomes if o.waiting),
            waiting_by_reason=Counter(o.queue_reason for o in outcomes if o.waiting),  # type: ignore[misc]
            reminders=sum(o.reminders for o in outcomes),
            reassignments=sum(o.reassignments for o in outcomes),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "queued_by_reason": dict(self.queued_by_reason),
            "waiting": self.waiting,
            "waiting_by_reason": dict(self.waiting_by_reason),
            "reminders": self.reminders,
            "reassignments": self.reassignments,
            "spread": self.spread.__dict__,
        }


@dataclass(frozen=True)
class OwnerChange:
    lead_id: str
    actual: str | None
    proposed: str | None
    proposed_reason: str | None  # why it waits in the proposal (None: it has an owner)


@dataclass
class WhatIf:
    leads: int
    actual: Side
    proposed: Side
    owner_changed: int
    first_seller_changed: int
    changes: list[OwnerChange]  # the first CHANGES_SHOWN, in arrival order
    sellers: list[str]  # every seller in either column, sorted
    outcomes: list[Outcome]  # the proposal's, per lead, in arrival order

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "owner_changed": self.owner_changed,
            "first_seller_changed": self.first_seller_changed,
            "actual": self.actual.as_dict(),
            "proposed": self.proposed.as_dict(),
            "sellers": [
                {
                    "seller_id": s,
                    "actual": self.actual.owned.get(s, 0),
                    "proposed": self.proposed.owned.get(s, 0),
                    "actual_assignments": self.actual.assigned.get(s, 0),
                    "proposed_assignments": self.proposed.assigned.get(s, 0),
                }
                for s in self.sellers
            ],
            "changes": [c.__dict__ for c in self.changes],
        }


def what_if(
    leads: Sequence[RoutedLead],
    current: Iterable[Seller],
    proposed: Iterable[Seller],
    policy: SlaPolicy,
    until: datetime,
) -> WhatIf:
    """What actually happened to these leads beside what the proposed roster would have
    done with them."""
    current, proposed = list(current), list(proposed)
    ordered = sorted(leads, key=lambda f: (f.arrived_at, f.order, f.lead_id))
    observed = [Outcome.observed(f) for f in ordered]
    replayed = replay(ordered, proposed, policy, until)
    actual = Side.of(observed, (s.seller_id for s in current if s.active))
    future = Side.of(replayed, (s.seller_id for s in proposed if s.active))
    changes = [
        OwnerChange(o.lead_id, o.owner, r.owner, r.queue_reason if r.waiting else None)
        for o, r in zip(observed, replayed, strict=True)
        if o.owner != r.owner
    ]
    first_changed = sum(
        1
        for o, r in zip(observed, replayed, strict=True)
        if o.sellers_tried[:1] != r.sellers_tried[:1]
    )
    sellers = sorted(
        set(actual.owned)
        | set(future.owned)
        | set(actual.assigned)
        | set(future.assigned)
        | {s.seller_id for s in current + proposed if s.active}
    )
    return WhatIf(
        leads=len(ordered),
        actual=actual,
        proposed=future,
        owner_changed=len(changes),
        first_seller_changed=first_changed,
        changes=changes[:CHANGES_SHOWN],
        sellers=sellers,
        outcomes=replayed,
    )
