"""The stored customer relationship: how events change it, and how its next contact is
(re)scheduled. The rules themselves live in ``domain``; this maps them onto documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kauppa.contracts.events.customers import ContactKind, NextContactScheduled
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.followup.domain.identities import contact_timer_key
from kauppa.followup.domain.invariant import schedule_fields
from kauppa.followup.domain.next_contact import ContactPolicy, NextContact
from kauppa.followup.domain.talking_points import CallContext, OpenProblem
from kauppa.followup.settings import FollowupSettings
from kauppa.followup.store import BatchState, contact_document

Document = dict[str, Any]
CONTACT_DUE = "contact_due"  # timer kind


def policy_of(settings: FollowupSettings) -> ContactPolicy:
    return ContactPolicy(
        default_next_contact_days=settings.default_next_contact_days,
        max_months_between_contacts=settings.max_months_between_contacts,
        reminder_repeat_days=settings.reminder_repeat_days,
        contact_hour=settings.contact_hour,
    )


def new_customer(customer_id: str, organisation_id: str, now: datetime) -> Document:
    """A record before its first deal is known (a delivery or a classification may come
    first); it becomes active, and gets its next contact, with the deal."""
    return {
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


def apply_deal(customer: Document, deal: DealClosed | DealAmended) -> None:
    """DealClosed / DealAmended: products, seller, value, customer since."""
    when = deal.closed_at if isinstance(deal, DealClosed) else deal.amended_at
    previous = customer["deals"].get(deal.deal_id, {})
    if isinstance(deal, DealAmended) and previous.get("summary_version", 0) >= deal.summary_version:
        return  # an older amendment arriving late
    customer["deals"][deal.deal_id] = {
        "products": [line.product_code for line in deal.summary.lines],
        "value": str(deal.summary.price.net.amount),
        "currency": deal.summary.price.net.currency,
        "summary_version": deal.summary_version,
        "closed_at": previous.get("closed_at", when),
    }
    customer["seller_id"] = deal.seller.seller_id
    customer["seller_name"] = deal.seller.name
    customer["seller_timezone"] = deal.seller.timezone
    customer["company_name"] = deal.customer.company_name
    owned = {p for d in customer["deals"].values() for p in d["products"]}
    owned |= set(customer["attributes"].get("products_owned") or [])
    customer["products_owned"] = sorted(owned)
    if isinstance(deal, DealClosed):
        since = customer.get("customer_since")
        customer["customer_since"] = min(since, deal.closed_at) if since else deal.closed_at


def timezone_of(customer: Document, settings: FollowupSettings) -> str:
    return customer.get("seller_timezone") or settings.default_timezone


def set_next_contact(
    state: BatchState,
    customer: Document,
    decided: NextContact,
    *,
    contact_id: str,
    last_contact_at: datetime,
    policy: ContactPolicy,
) -> NextContactScheduled:
    """Replace the customer's next contact (D15): the old timer is cancelled, the new
    contact and its durable timer are written in the same transaction."""
    uow = state.uow
    kind = ContactKind.YEARLY if decided.defaulted else ContactKind.SCHEDULED
    old = customer.get("next_contact")
    if old and old["contact_id"] != contact_id:
        uow.cancel(contact_timer_key(old["contact_id"]))
        state.update_contact(old["contact_id"], "scheduled", {"state": "superseded"})
    state.add_contact(
        contact_document(
            contact_id=contact_id,
            customer=customer,
            kind=kind.value,
            due_at=decided.due_at,
            scheduled_at=uow.now,
            defaulted=decided.defaulted,
        )
    )
    uow.schedule(
        contact_timer_key(contact_id),
        decided.due_at,
        CONTACT_DUE,
        {"contact_id": contact_id, "customer_id": customer["_id"], "kind": kind.value},
        replace=False,
    )
    customer["next_contact"] = {
        "contact_id": contact_id,
        "due_at": decided.due_at,
        "kind": kind.value,
        "defaulted": decided.defaulted,
    }
    customer.update(schedule_fields(decided.due_at, last_contact_at, policy))
    state.put(customer)
    return NextContactScheduled(
        customer_id=customer["_id"],
        organisation_id=customer["organisation_id"],
        seller_id=customer.get("seller_id") or "unassigned",
        contact_id=contact_id,
        kind=kind,
        due_at=decided.due_at,
        defaulted=decided.defaulted,
        scheduled_at=uow.now,
    )


def relationship_since(customer: Document) -> datetime | None:
    """The earlier of the first deal seen and the CRM's own 'customer since' (D14)."""
    candidates = [customer.get("customer_since"), customer["attributes"].get("customer_since")]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def call_context(customer: Document, kind: ContactKind, payload: Document) -> CallContext:
    return CallContext(
        kind=kind,
        customer_since=relationship_since(customer),
        open_problems=tuple(
            OpenProblem(p["problem_id"], p["description"]) for p in customer["open_problems"]
        ),
        delivered_items=tuple(payload.get("items") or ()),
        campaign_reason=payload.get("reason"),
        products_owned=tuple(customer.get("products_owned") or ()),
    )
