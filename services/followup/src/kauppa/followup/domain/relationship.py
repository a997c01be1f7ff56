"""The customer relationship (D13-D17): the aggregate of the followup service.

One ``CustomerRelationship`` per customer account: its deals, products, seller, open
problems, last delivery and, above all, its next contact. Its methods are the business
verbs; each changes the relationship and returns what it causes (``Caused``: events,
durable timers, writes to the customer's scheduled contacts), or raises a refusal. No
I/O: the repository loads and saves it, the handlers and commands emit and schedule what
it returned. The rules themselves stay in this package (``next_contact``, ``calendar``,
``talking_points``, ``invariant``) and are called from here.

The relationship keeps its state as its stored record (``record``), so the documents in
the database stay exactly what they were; the verbs are the only writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, Self

from kauppa.contracts.events.customers import (
    ContactDue,
    ContactKind,
    CustomerContactLogged,
    CustomerContactReported,
    DeliveryCompleted,
    FeedbackCallCompleted,
    NextContactScheduled,
    ProblemReported,
    ProblemResolved,
)
from kauppa.contracts.events.deals import DealAmended, DealClosed, ReferralReceived
from kauppa.contracts.events.privacy import ERASED
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.calendar import feedback_call_due
from kauppa.followup.domain.invariant import CustomerSchedule, repaired_due_at, schedule_fields
from kauppa.followup.domain.next_contact import (
    ContactPolicy,
    NextContact,
    decide_next_contact,
    repeat_reminder,
)
from kauppa.followup.domain.talking_points import CallContext, OpenProblem, talking_points
from kauppa.servicekit.refusals import Conflict, NotFound
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import Effects, TimerRequest

CONTACT_DUE = "contact_due"  # the timer kind of a scheduled contact
UNASSIGNED = "unassigned"  # the seller named on a contact before the deal names one


class ContactReportRefused(NotFound):
    """The report names a customer this service does not know (or one erased)."""


class RelationshipErased(Conflict):
    """The customer was erased (GDPR): nothing more is recorded about them."""


@dataclass(frozen=True)
class RelationshipRules:
    """What the verbs need from the service's settings."""

    policy: ContactPolicy = field(default_factory=ContactPolicy)
    feedback_call_business_days: int = 3
    holiday_country: str = "FI"
    default_timezone: str = "Europe/Helsinki"
    long_relationship_years: int = 5


@dataclass(frozen=True)
class ScheduledContact:
    """A contact the seller is to make (feedback call, next contact, repeat reminder,
    campaign contact): one row in the customer's contacts, in state ``scheduled``.
    ``fresh``: its id is known not to be stored yet (the repository inserts it); else a
    second one with the same id changes nothing."""

    contact_id: str
    customer_id: str
    organisation_id: str
    seller_id: str
    kind: str
    due_at: datetime
    scheduled_at: datetime
    defaulted: bool = False
    extra: Document = field(default_factory=dict)
    fresh: bool = False


@dataclass(frozen=True)
class ContactUpdate:
    """A scheduled contact's change, applied only while it is still in ``when_state``."""

    contact_id: str
    when_state: str
    changes: Document


@dataclass
class Caused(Effects):
    """What a verb caused: the kit's ``Effects`` (events to emit, timers to arm or
    cancel) and the writes to the customer's scheduled contacts."""

    contacts: list[ScheduledContact] = field(default_factory=list)
    updates: list[ContactUpdate] = field(default_factory=list)

    def __iadd__(self, other: Effects) -> Self:
        super().__iadd__(other)
        if isinstance(other, Caused):
            self.contacts += other.contacts
            self.updates += other.updates
        return self


@dataclass
class ContactLogged(Caused):
    """``log_contact``'s outcome: what it caused, plus the report's record and summary."""

    report: Document = field(default_factory=dict)
    problems_opened: list[str] = field(default_factory=list)
    problems_resolved: list[str] = field(default_factory=list)
    next_contact: NextContactScheduled | None = None
    clamped: bool = False

    def summary(self) -> Document:
        """The answer to the seller who logged it."""
        assert self.next_contact is not None
        return {
            "report_id": self.report["_id"],
            "customer_id": self.report["customer_id"],
            "problems_opened": self.problems_opened,
            "problems_resolved": self.problems_resolved,
            "next_contact": {
                "contact_id": self.next_contact.contact_id,
                "due_at": self.next_contact.due_at.isoformat(),
                "defaulted": self.next_contact.defaulted,
                "clamped": self.clamped,
            },
        }


def contact_timer(contact: ScheduledContact, **payload: Any) -> TimerRequest:
    """The durable timer of a scheduled contact (an existing one is left alone)."""
    body = {
        "contact_id": contact.contact_id,
        "customer_id": contact.customer_id,
        "kind": contact.kind,
        **payload,
    }
    return TimerRequest(
        ids.contact_timer_key(contact.contact_id), contact.due_at, CONTACT_DUE, body, replace=False
    )


def cancel_contact(contact_id: str, when_state: str = "scheduled") -> ContactUpdate:
    """A contact nobody is to make any more (its customer is gone or erased)."""
    return ContactUpdate(contact_id, when_state, {"state": "cancelled"})


class CustomerRelationship:
    """One customer's relationship, built from its stored record."""

    def __init__(self, record: Document) -> None:
        self.record = record

    @classmethod
    def new(cls, customer_id: str, organisation_id: str, now: datetime) -> CustomerRelationship:
        """A relationship before its first deal is known (a delivery or a classification
        may come first); it becomes active, and gets its next contact, with the deal."""
        return cls(
            {
                "_id": customer_id,
                "organisation_id": organisation_id,
                "active": False,
                "seller_id": None,
                "seller_timezone": None,
                "company_name": None,
                "customer_since": None,
                "deals": {},
                "products_owned": [],
                "attributes": {},
                "open_problems": [],
                "last_delivery": None,
                "next_contact": None,
                "last_contact_at": None,
                "contact_deadline": None,
                "next_contact_due_at": None,
                "next_contact_overshoot_s": None,
                "created_at": now,
            }
        )

    # ------------------------------------------------------------------ what it is

    @property
    def customer_id(self) -> str:
        return str(self.record["_id"])

    @property
    def organisation_id(self) -> str:
        return str(self.record["organisation_id"])

    @property
    def seller_id(self) -> str:
        """The customer's seller ("unassigned" before a deal names one)."""
        return self.record.get("seller_id") or UNASSIGNED

    @property
    def erased(self) -> bool:
        return bool(self.record.get("erased_at"))

    @property
    def next_contact(self) -> Document | None:
        nc: Document | None = self.record.get("next_contact")
        return nc

    @property
    def last_contact_at(self) -> datetime | None:
        last: datetime | None = self.record.get("last_contact_at")
        return last

    def timezone(self, rules: RelationshipRules) -> str:
        """The seller's time zone: contacts fall due in the seller's working day."""
        return self.record.get("seller_timezone") or rules.default_timezone

    def since(self) -> datetime | None:
        """The earlier of the first deal seen and the CRM's own 'customer since' (D14)."""
        candidates = [
            self.record.get("customer_since"),
            self.record["attributes"].get("customer_since"),
        ]
        known = [c for c in candidates if c is not None]
        return min(known) if known else None

    def call_context(self, kind: ContactKind, payload: Document) -> CallContext:
        """What the seller should know when the call falls due (D13, D14)."""
        return CallContext(
            kind=kind,
            customer_since=self.since(),
            open_problems=tuple(
                OpenProblem(p["problem_id"], p["description"]) for p in self.record["open_problems"]
            ),
            delivered_items=tuple(payload.get("items") or ()),
            campaign_reason=payload.get("reason"),
            products_owned=tuple(self.record.get("products_owned") or ()),
        )

    # ------------------------------------------------------------------ deals

    def record_deal(self, deal: DealClosed | DealAmended) -> None:
        """DealClosed / DealAmended: products, seller, value, customer since (an older
        amendment arriving late changes nothing)."""
        c = self.record
        when = deal.closed_at if isinstance(deal, DealClosed) else deal.amended_at
        previous = c["deals"].get(deal.deal_id, {})
        if (
            isinstance(deal, DealAmended)
            and previous.get("summary_version", 0) >= deal.summary_version
        ):
            return
        c["deals"][deal.deal_id] = {
            "products": [line.product_code for line in deal.summary.lines],
            "value": str(deal.summary.price.net.amount),
            "currency": deal.summary.price.net.currency,
            "summary_version": deal.summary_version,
            "closed_at": previous.get("closed_at", when),
        }
        c["seller_id"] = deal.seller.seller_id
        c["seller_name"] = deal.seller.name
        c["seller_timezone"] = deal.seller.timezone
        c["company_name"] = deal.customer.company_name
        owned = {p for d in c["deals"].values() for p in d["products"]}
        owned |= set(c["attributes"].get("products_owned") or [])
        c["products_owned"] = sorted(owned)
        if isinstance(deal, DealClosed):
            since = c.get("customer_since")
            c["customer_since"] = min(since, deal.closed_at) if since else deal.closed_at

    def start_after_close(
        self, deal: DealClosed, now: datetime, rules: RelationshipRules
    ) -> Caused:
        """D15, D16: the first deal makes the relationship active with a next contact;
        later deals add products and value."""
        self.record_deal(deal)
        self._contacted(deal.closed_at)
        if self.record["active"] and self.next_contact is not None:
            return Caused()
        self.record["active"] = True
        last = self._last()
        decided = decide_next_contact(None, last, now, rules.policy, self.timezone(rules))
        contact_id = ids.next_contact_id(f"deal:{deal.deal_id}", self.customer_id)
        caused, scheduled = self.schedule_next(decided, contact_id, last, now, rules.policy)
        caused.events.append(scheduled)
        return caused

    def amend(self, deal: DealAmended) -> None:
        """A newer summary of a deal: products and value follow it."""
        self.record_deal(deal)

    def classify(self, attributes: Document) -> None:
        """D17: the CRM's classification for segments (and its 'customer since', D14)."""
        if self.erased:
            raise RelationshipErased(f"customer {self.customer_id} was erased")
        since = attributes.get("customer_since")
        if since is not None:  # BSON has no date type
            attributes["customer_since"] = datetime.combine(since, time(0), tzinfo=UTC)
        self.record["attributes"] = attributes
        owned = {p for d in self.record["deals"].values() for p in d["products"]}
        self.record["products_owned"] = sorted(owned | set(attributes.get("products_owned") or []))

    # ------------------------------------------------------------------ contacts

    def delivery_completed(
        self, delivery: DeliveryCompleted, now: datetime, rules: RelationshipRules
    ) -> Caused:
        """D13: a feedback call ``feedback_call_business_days`` business days after the
        delivery, at the start of the seller's working day (the caller makes sure it is
        once per delivery)."""
        items = [f"{i.quantity.normalize()} x {i.product_code}" for i in delivery.items]
        self.record["last_delivery"] = {
            "delivery_id": delivery.delivery_id,
            "deal_id": delivery.deal_id,
            "items": items,
            "delivered_at": delivery.delivered_at,
        }
        due = feedback_call_due(
            delivery.delivered_at,
            rules.feedback_call_business_days,
            country=rules.holiday_country,
            hour=rules.policy.contact_hour,
            timezone=self.timezone(rules),
        )
        contact = self._contact(
            ids.feedback_contact_id(delivery.delivery_id),
            ContactKind.FEEDBACK_CALL.value,
            due,
            now,
            extra={"delivery_id": delivery.delivery_id, "deal_id": delivery.deal_id},
            fresh=True,
        )
        return Caused(
            events=[
                NextContactScheduled(
                    customer_id=self.customer_id,
                    organisation_id=self.organisation_id,
                    seller_id=self.seller_id,
                    contact_id=contact.contact_id,
                    kind=ContactKind.FEEDBACK_CALL,
                    due_at=due,
                    scheduled_at=now,
                )
            ],
            timers=[contact_timer(contact, items=items, deal_id=delivery.deal_id)],
            contacts=[contact],
        )

    def log_contact(
        self,
        report: CustomerContactReported,
        answered: Document | None,
        now: datetime,
        rules: RelationshipRules,
    ) -> ContactLogged:
        """D13-D15: a seller logged a contact. ``answered`` is the scheduled contact it
        answers (one of this customer's, or None). Problems open, fixes close them,
        referrals go to the booking side, and the next contact is always decided: the
        seller's date, or the default, never past 12 months after the last contact."""
        if self.erased:
            raise ContactReportRefused(f"unknown customer {self.customer_id}")
        org, seller = self.organisation_id, report.seller_id
        out = ContactLogged()
        kind = ContactKind(answered["kind"]) if answered else ContactKind.SCHEDULED
        if answered and answered["state"] in ("scheduled", "due"):
            if answered["state"] == "scheduled":
                out.timers.append(TimerRequest(ids.contact_timer_key(answered["_id"]), cancel=True))
            out.updates.append(
                ContactUpdate(
                    answered["_id"],
                    answered["state"],
                    {"state": "done", "report_id": report.report_id},
                )
            )
        for i, description in enumerate(report.problems):
            problem = self.report_problem(
                ids.problem_id(report.report_id, i), description, report.contacted_at, seller
            )
            out.problems_opened.append(problem.problem_id)
            out.events.append(problem)
        resolved = self.resolve_problems(
            report.resolved_problem_ids, report.notes, report.contacted_at
        )
        out.problems_resolved = [p.problem_id for p in resolved]
        out.events += resolved
        for i, referral in enumerate(report.referrals):
            out.events.append(
                ReferralReceived(
                    referral_id=ids.referral_id(report.report_id, i),
                    organisation_id=org,
                    seller_id=seller,
                    referred_by_customer_id=self.customer_id,
                    referral=referral,
                    received_at=report.contacted_at,
                )
            )
        if kind == ContactKind.FEEDBACK_CALL:
            delivery_ok = report.delivery_ok
            out.events.append(
                FeedbackCallCompleted(
                    customer_id=self.customer_id,
                    organisation_id=org,
                    seller_id=seller,
                    deal_id=answered.get("deal_id") if answered else None,
                    delivery_ok=delivery_ok if delivery_ok is not None else not report.problems,
                    completed_at=report.contacted_at,
                )
            )
        out.events.append(
            CustomerContactLogged(
                customer_id=self.customer_id,
                organisation_id=org,
                seller_id=seller,
                contact_id=report.contact_id,
                kind=kind,
                contacted_at=report.contacted_at,
                delivery_ok=report.delivery_ok,
                upsell_interest=report.upsell_interest,
                notes=report.notes,
            )
        )
        self._contacted(report.contacted_at)
        self.record["active"] = True
        last = self._last()
        decided = decide_next_contact(
            report.next_contact_on, last, now, rules.policy, self.timezone(rules)
        )
        contact_id = ids.next_contact_id(f"report:{report.report_id}", self.customer_id)
        caused, scheduled = self.schedule_next(decided, contact_id, last, now, rules.policy)
        out += caused
        out.events.append(scheduled)
        out.next_contact, out.clamped = scheduled, decided.clamped
        out.report = {
            "_id": report.report_id,
            "customer_id": self.customer_id,
            "kind": kind.value,
            "at": now,
            **report.model_dump(mode="python", exclude={"next_contact_on"}),
        }
        return out

    def report_problem(
        self, problem_id: str, description: str, reported_at: datetime, seller_id: str
    ) -> ProblemReported:
        """D14: an open problem; while it is open, no offers (except long relationships)."""
        self.record["open_problems"].append(
            {"problem_id": problem_id, "description": description, "reported_at": reported_at}
        )
        deal_id = (self.record.get("last_delivery") or {}).get("deal_id")
        return ProblemReported(
            problem_id=problem_id,
            customer_id=self.customer_id,
            organisation_id=self.organisation_id,
            seller_id=seller_id,
            deal_id=deal_id,
            description=description,
            reported_at=reported_at,
        )

    def resolve_problems(
        self, problem_ids: list[str], resolution: str | None, resolved_at: datetime
    ) -> list[ProblemResolved]:
        """The open problems among ``problem_ids`` are fixed (others: nothing happens)."""
        open_problems = self.record["open_problems"]
        resolved = [p for p in open_problems if p["problem_id"] in problem_ids]
        self.record["open_problems"] = [p for p in open_problems if p not in resolved]
        return [
            ProblemResolved(
                problem_id=p["problem_id"],
                customer_id=self.customer_id,
                organisation_id=self.organisation_id,
                resolution=resolution,
                resolved_at=resolved_at,
            )
            for p in resolved
        ]

    def contact_due(
        self,
        payload: Document,
        *,
        due_at: datetime,
        fired_at: datetime,
        lateness_seconds: float,
        now: datetime,
        rules: RelationshipRules,
    ) -> Caused:
        """A scheduled contact's timer fired: ``ContactDue`` with talking points (D13,
        D14). A fired next contact leaves a repeat reminder as the customer's next
        contact, so one stays on record even if nobody logs this one (D15)."""
        kind = ContactKind(payload["kind"])
        contact_id = payload["contact_id"]
        points = talking_points(
            self.call_context(kind, payload), fired_at, rules.long_relationship_years
        )
        seller = self.seller_id
        out = Caused(
            events=[
                ContactDue(
                    contact_id=contact_id,
                    customer_id=self.customer_id,
                    organisation_id=self.organisation_id,
                    seller_id=seller,
                    kind=kind,
                    due_at=due_at,
                    fired_at=fired_at,
                    lateness_seconds=lateness_seconds,
                    talking_points=points,
                    campaign_id=payload.get("campaign_id"),
                    reason=payload.get("reason"),
                )
            ],
            updates=[
                ContactUpdate(
                    contact_id,
                    "scheduled",
                    {
                        "state": "due",
                        "seller_id": seller,
                        "fired_at": fired_at,
                        "lateness_seconds": lateness_seconds,
                        "talking_points": [tp.model_dump() for tp in points],
                    },
                )
            ],
        )
        current, last = self.next_contact, self.last_contact_at
        if current and current["contact_id"] == contact_id and last:
            repeat_id = ids.next_contact_id(f"repeat:{contact_id}", self.customer_id)
            due = repeat_reminder(last, fired_at, rules.policy)
            repeat = self._contact(repeat_id, kind.value, due, now, defaulted=True)
            out.contacts.append(repeat)
            out.timers.append(contact_timer(repeat))
            self.record.update(schedule_fields(due, last, rules.policy))
            self.record["next_contact"] = {
                "contact_id": repeat_id,
                "due_at": due,
                "kind": kind.value,
                "defaulted": True,
            }
        return out

    def repair_schedule(self, run: str, now: datetime, policy: ContactPolicy) -> Caused:
        """The invariant audit found this relationship without a valid next contact
        (D15/D16): a defaulted one, inside the deadline, never in the past."""
        last = self.last_contact_at or self.record.get("created_at") or now
        schedule = CustomerSchedule(True, last, self.record.get("next_contact_due_at"))
        due = repaired_due_at(schedule, now, policy)
        caused, scheduled = self.schedule_next(
            NextContact(due, defaulted=True),
            ids.next_contact_id(f"repair:{run}", self.customer_id),
            last,
            now,
            policy,
        )
        caused.events.append(scheduled)
        return caused

    def schedule_next(
        self,
        decided: NextContact,
        contact_id: str,
        last_contact_at: datetime,
        now: datetime,
        policy: ContactPolicy,
    ) -> tuple[Caused, NextContactScheduled]:
        """Replace the next contact (D15): the old one is superseded and its timer
        cancelled; the new contact and its durable timer come with the same change."""
        kind = ContactKind.YEARLY if decided.defaulted else ContactKind.SCHEDULED
        out = Caused()
        old = self.next_contact
        if old and old["contact_id"] != contact_id:
            out.timers.append(TimerRequest(ids.contact_timer_key(old["contact_id"]), cancel=True))
            out.updates.append(
                ContactUpdate(old["contact_id"], "scheduled", {"state": "superseded"})
            )
        contact = self._contact(
            contact_id, kind.value, decided.due_at, now, defaulted=decided.defaulted
        )
        out.contacts.append(contact)
        out.timers.append(contact_timer(contact))
        self.record["next_contact"] = {
            "contact_id": contact_id,
            "due_at": decided.due_at,
            "kind": kind.value,
            "defaulted": decided.defaulted,
        }
        self.record.update(schedule_fields(decided.due_at, last_contact_at, policy))
        scheduled = NextContactScheduled(
            customer_id=self.customer_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            contact_id=contact_id,
            kind=kind,
            due_at=decided.due_at,
            defaulted=decided.defaulted,
            scheduled_at=now,
        )
        return out, scheduled

    # ------------------------------------------------------------------ erasure

    def erase(self, erased_at: datetime) -> None:
        """GDPR erasure: a tombstone without personal data or a next contact; ids, deals,
        dates and counts stay (problem descriptions become ``[erased]``). A second
        erasure keeps the first one's time."""
        self.record.update(
            {
                "active": False,
                "erased_at": self.record.get("erased_at") or erased_at,
                "company_name": None,
                "next_contact": None,
                "next_contact_due_at": None,
                "next_contact_overshoot_s": None,
                "contact_deadline": None,
            }
        )
        self.record["open_problems"] = [
            {**p, "description": ERASED} for p in self.record.get("open_problems") or []
        ]

    # ------------------------------------------------------------------ helpers

    def _contacted(self, at: datetime) -> None:
        last = self.record.get("last_contact_at")
        self.record["last_contact_at"] = max(last, at) if last else at

    def _last(self) -> datetime:
        last = self.last_contact_at
        assert last is not None
        return last

    def _contact(
        self,
        contact_id: str,
        kind: str,
        due_at: datetime,
        now: datetime,
        *,
        defaulted: bool = False,
        extra: Document | None = None,
        fresh: bool = False,
    ) -> ScheduledContact:
        return ScheduledContact(
            contact_id=contact_id,
            customer_id=self.customer_id,
            organisation_id=self.organisation_id,
            seller_id=self.seller_id,
            kind=kind,
            due_at=due_at,
            scheduled_at=now,
            defaulted=defaulted,
            extra={k: v for k, v in (extra or {}).items() if v is not None},
            fresh=fresh,
        )


def erased_before(relationship: CustomerRelationship | None) -> bool:
    """A relationship erased already: late or replayed events must not bring it back."""
    return relationship is not None and relationship.erased
