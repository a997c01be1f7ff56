"""Routing: which seller gets a lead.

Per organisation, a seller is eligible when they are active and present, cover the lead's
region (territory), product line and language, and have room under their capacity (max
open leads, i.e. assigned leads still awaiting their verdict). Among the eligible, fair
round-robin: the one who was assigned least recently (never-assigned first), ties by id.
When nobody is eligible, ``why_queued`` names the first rule that left nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from kauppa.contracts import QueueReason


@dataclass(frozen=True)
class Absence:
    start: datetime
    end: datetime | None = None  # open-ended until someone ends it

    def covers(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)


@dataclass
class Seller:
    """A seller on the roster, with the two facts routing keeps up to date."""

    seller_id: str
    organisation_id: str
    name: str = ""
    team: str | None = None
    regions: list[str] = field(default_factory=list)  # empty: every region
    products: list[str] = field(default_factory=list)  # empty: every product line
    languages: list[str] = field(default_factory=list)  # empty: every language
    capacity: int = 10
    active: bool = True
    absences: list[Absence] = field(default_factory=list)
    open_leads: int = 0
    last_assigned_seq: int = 0  # the organisation's rotation number at the last assignment

    @cached_property
    def coverage(self) -> tuple[set[str], set[str], set[str]]:
        """Regions, products and languages, normalised once."""
        return _norm(self.regions), _norm(self.products), _norm(self.languages)

    def is_absent(self, now: datetime) -> bool:
        return any(a.covers(now) for a in self.absences)

    def has_room(self) -> bool:
        return self.open_leads < self.capacity


@dataclass(frozen=True)
class LeadProfile:
    """What routing needs to know about a lead."""

    organisation_id: str
    region: str | None
    products: Sequence[str]
    language: str | None

    @cached_property
    def keys(self) -> tuple[str, set[str], str]:
        """Region, products and language normalised as the sellers' are, once per lead
        (routing compares them with every seller)."""
        return (
            (self.region or "").strip().casefold(),
            _norm(self.products),
            (self.language or "").casefold(),
        )


def language_of(locale: str) -> str:
    """``fi-FI`` -> ``fi``."""
    return locale.replace("_", "-").split("-", 1)[0].lower()


def _norm(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values if v and v.strip()}


def covers(seller: Seller, lead: LeadProfile) -> bool:
    """Territory, product line and language rules (an empty list on the seller: any)."""
    regions, products, languages = seller.coverage
    region, wanted, language = lead.keys
    if regions and region not in regions:
        return False
    if products and lead.products and not (products & wanted):
        return False
    if languages and language not in languages:
        return False
    return True


def eligible_sellers(
    sellers: Iterable[Seller], lead: LeadProfile, now: datetime, exclude: Iterable[str] = ()
) -> list[Seller]:
    skip = set(exclude)
    return [
        s
        for s in sellers
        if s.organisation_id == lead.organisation_id
        and s.active
        and s.seller_id not in skip
        and not s.is_absent(now)
        and s.has_room()
        and covers(s, lead)
    ]


def choose_seller(
    sellers: Iterable[Seller], lead: LeadProfile, now: datetime, exclude: Iterable[str] = ()
) -> Seller | None:
    """Fair round-robin among the eligible: least recently assigned first."""
    candidates = eligible_sellers(sellers, lead, now, exclude)
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.last_assigned_seq, s.seller_id))


@dataclass(frozen=True)
class NoSeller:
    """Why a lead goes to the unassigned queue: the reason kind and the same in words."""

    reason: QueueReason
    detail: str


def _lead_words(lead: LeadProfile) -> str:
    parts = []
    if lead.region:
        parts.append(f"region {lead.region!r}")
    if lead.products:
        parts.append("products " + ", ".join(repr(p) for p in lead.products))
    if lead.language:
        parts.append(f"language {lead.language!r}")
    return "; ".join(parts) or "no region, products or language"


def why_queued(
    sellers: Iterable[Seller], lead: LeadProfile, now: datetime, exclude: Iterable[str] = ()
) -> NoSeller:
    """Why ``choose_seller`` found nobody: the organisation's active sellers are narrowed
    rule by rule (region, product line, language, SLA lapsed on this lead, absence,
    capacity) and the first rule that leaves nobody is the reason. Only asked when the
    lead is queued, so the assignment path pays nothing for it."""
    region, wanted, language = lead.keys
    left = [s for s in sellers if s.organisation_id == lead.organisation_id and s.active]
    words = _lead_words(lead)
    if not left:
        return NoSeller(QueueReason.NO_ACTIVE_SELLER, "the organisation has no active seller")
    steps: list[tuple[QueueReason, Callable[[Seller], bool], str]] = [
        (
            QueueReason.NO_SELLER_FOR_REGION,
            lambda s: not s.coverage[0] or region in s.coverage[0],
            f"no active seller covers the region ({words})",
        ),
        (
            QueueReason.NO_SELLER_FOR_PRODUCT,
            lambda s: not s.coverage[1] or not lead.products or bool(s.coverage[1] & wanted),
            f"no active seller in the region covers the product line ({words})",
        ),
        (
            QueueReason.NO_SELLER_FOR_LANGUAGE,
            lambda s: not s.coverage[2] or language in s.coverage[2],
            f"no active seller for the region and product speaks the language ({words})",
        ),
    ]
    for reason, keep, detail in steps:
        left = [s for s in left if keep(s)]
        if not left:
            return NoSeller(reason, detail)
    covering = len(left)
    skip = set(exclude)
    left = [s for s in left if s.seller_id not in skip]
    if not left:
        return NoSeller(
            QueueReason.ALL_SLA_EXPIRED,
            f"each of the {covering} seller(s) who cover the lead let its SLA lapse",
        )
    present = [s for s in left if not s.is_absent(now)]
    if not present:
        return NoSeller(
            QueueReason.ALL_ABSENT, f"all {len(left)} seller(s) who cover the lead are absent"
        )
    absent = len(left) - len(present)
    return NoSeller(
        QueueReason.ALL_AT_CAPACITY,
        f"all {len(present)} present seller(s) who cover the lead are at capacity"
        + (f" ({absent} more absent)" if absent else ""),
    )


def route(
    sellers: Sequence[Seller], lead: LeadProfile, now: datetime, exclude: Iterable[str] = ()
) -> Seller | NoSeller:
    """The seller who gets the lead, or why nobody can."""
    exclude = tuple(exclude)
    chosen = choose_seller(sellers, lead, now, exclude)
    return chosen if chosen is not None else why_queued(sellers, lead, now, exclude)


class Rotation:
    """An organisation's round-robin: assigning a seller takes the next number."""

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq

    def assign(self, seller: Seller) -> None:
        self.seq += 1
        seller.last_assigned_seq = self.seq
        seller.open_leads += 1

    @staticmethod
    def release(seller: Seller) -> None:
        seller.open_leads = max(seller.open_leads - 1, 0)


class Roster:
    """The sellers of some organisations as one transaction sees them: routing takes and
    frees their capacity and turns each organisation's rotation in memory; ``changed``
    names the sellers whose counters the repository must write back (absolute values are
    safe: a concurrent writer of the same seller makes one transaction re-run)."""

    def __init__(self, sellers: Iterable[Seller]) -> None:
        self.by_org: dict[str, list[Seller]] = {}
        for s in sellers:
            self.by_org.setdefault(s.organisation_id, []).append(s)
        self.by_id = {
            (s.organisation_id, s.seller_id): s for org in self.by_org.values() for s in org
        }
        self.rotations = {
            org: Rotation(max((s.last_assigned_seq for s in members), default=0))
            for org, members in self.by_org.items()
        }
        self._changed: set[tuple[str, str]] = set()

    def sellers(self, org: str) -> list[Seller]:
        return self.by_org.get(org, [])

    def get(self, org: str, seller_id: str) -> Seller | None:
        return self.by_id.get((org, seller_id))

    def could_take_a_lead(self, org: str) -> bool:
        """Some active seller of ``org`` has room (a queue nobody can serve is not read)."""
        return any(s.active and s.has_room() for s in self.sellers(org))

    def assign(self, seller: Seller) -> None:
        self.rotations.setdefault(seller.organisation_id, Rotation()).assign(seller)
        self._changed.add((seller.organisation_id, seller.seller_id))

    def release(self, org: str, seller_id: str | None) -> None:
        seller = self.get(org, seller_id or "")
        if seller is not None:
            Rotation.release(seller)
            self._changed.add((org, seller.seller_id))

    def changed(self) -> list[Seller]:
        """The sellers whose counters changed since the last ``saved``, in key order."""
        return [self.by_id[k] for k in sorted(self._changed)]

    def saved(self) -> None:
        self._changed.clear()
