"""The dashboard's part of GDPR erasure (``CustomerErased``), in one place.

The dashboard keeps no personal data, only ids, company names and free-text reasons.
An erasure blanks those of the customer (``customer_erased``, its deals' confirmation
failures through ``BatchErasures``), leaves the customer row as the tombstone later
events are checked against (an event of an erased customer is projected ``scrubbed``),
and keeps the identities it named (digests only) for the dead-letter desk, which
refuses to replay a letter naming an erased customer (``erasures_named``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kauppa.contracts import (
    ConfirmationFailed,
    CustomerErased,
    DealAmended,
    DealClosed,
    DealLost,
    DealOpened,
    Envelope,
    Event,
)
from kauppa.dashboard import repository
from kauppa.dashboard.domain.contacts import ContactState
from kauppa.dashboard.repository import (
    CONFIRMATION_FAILURES,
    CONTACTS,
    CUSTOMERS,
    DEALS,
    ERASED_IDENTITIES,
    ReadModels,
    Write,
    upsert,
)
from kauppa.servicekit.deadletters import DeadLetter
from kauppa.servicekit.erasures import CUSTOMER, ErasureIndex, erased_identities, kind_of
from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

ERASED = "(erased)"


def customer_erased(e: CustomerErased, env: Envelope) -> list[Write]:
    """GDPR: the customer stops counting, its company name and its deals' lost reasons
    go, and its customer row stays as the tombstone later events are checked against;
    the identities it names (digests only) are kept for the dead-letter desk's replay
    check. (Confirmation failures of its deals are blanked by ``BatchErasures``, which
    knows the customer's deals.)"""
    identities = erased_identities(
        customer_id=e.customer_id, business_id=e.business_id, email=e.email
    )
    return [
        *(
            upsert(ERASED_IDENTITIES, i, {"$addToSet": {"organisation_ids": e.organisation_id}})
            for i in identities
        ),
        upsert(
            CUSTOMERS,
            e.customer_id,
            {"$set": {"erased": True}, "$setOnInsert": {"organisation_id": e.organisation_id}},
        ),
        (
            CONTACTS,
            UpdateMany(
                {"customer_id": e.customer_id},
                {"$set": {"state": ContactState.ERASED.value}},
            ),
        ),
        (
            DEALS,
            UpdateMany(
                {"customer_id": e.customer_id}, {"$set": {"company": ERASED, "erased": True}}
            ),
        ),
        (
            DEALS,
            UpdateMany(
                {"customer_id": e.customer_id, "lost_reason": {"$exists": True}},
                {"$set": {"lost_reason": ERASED}},
            ),
        ),
    ]


def scrubbed(event: Event) -> Event:
    """An event of an erased customer as the dashboard may keep it: what it would store
    of the person (company name, free-text reasons) replaced by ``(erased)``. For events
    processed after the erasure (another topic, a replay)."""
    if isinstance(event, DealOpened):
        return event.model_copy(
            update={"prospect": event.prospect.model_copy(update={"company_name": ERASED})}
        )
    if isinstance(event, DealClosed | DealAmended):
        return event.model_copy(
            update={"customer": event.customer.model_copy(update={"company_name": ERASED})}
        )
    if isinstance(event, DealLost | ConfirmationFailed):
        return event.model_copy(update={"reason": ERASED})
    return event


@dataclass
class BatchErasures:
    """The erasures a batch meets: customers (and their deals) erased before it, and
    those it erases itself, followed event by event in the batch's order."""

    customers: set[str]
    deals: set[str]
    deals_of_erased: dict[str, list[str]]  # per customer the batch erases: its deals
    deal_customer: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def of(cls, batch: list[Envelope], repo: ReadModels) -> BatchErasures:
        """The tombstones of the batch's customers and deals; the deals of each customer
        the batch erases: those stored, and those the batch itself names (not written yet)."""
        customers = {c for env in batch if (c := getattr(env.event, "customer_id", None))}
        deals = {d for env in batch if (d := getattr(env.event, "deal_id", None))}
        erasing = {env.event.customer_id for env in batch if isinstance(env.event, CustomerErased)}
        of_erasing = await repo.deals_of(erasing)
        for env in batch:
            customer = getattr(env.event, "customer_id", None)
            deal = getattr(env.event, "deal_id", None)
            if customer in of_erasing and deal:
                of_erasing[customer].add(deal)
        return cls(
            await repo.erased_customers(customers),
            await repo.erased_deals(deals),
            {c: sorted(ds) for c, ds in of_erasing.items()},
        )

    def of_erased(self, env: Envelope) -> bool:
        """Whether ``env`` is of a customer erased before it (then it is projected
        ``scrubbed``); an erasure counts from its own event on."""
        event = env.event
        if isinstance(event, CustomerErased):
            self.customers.add(event.customer_id)
        customer = getattr(event, "customer_id", None)
        deal = getattr(event, "deal_id", None)
        if deal and customer:
            self.deal_customer[deal] = customer
        if deal and self.deal_customer.get(deal) in self.customers:
            self.deals.add(deal)
        return (customer in self.customers or deal in self.deals) and not isinstance(
            event, CustomerErased
        )

    def writes(self, env: Envelope, *, of_erased: bool) -> list[Write]:
        """What erasure adds to the event's own projection."""
        event = env.event
        writes: list[Write] = []
        if isinstance(event, CustomerErased) and self.deals_of_erased.get(event.customer_id):
            # Failure reasons stored before the erasure (they may quote the person).
            writes.append(
                (
                    CONFIRMATION_FAILURES,
                    UpdateMany(
                        {
                            "deal_id": {"$in": self.deals_of_erased[event.customer_id]},
                            "organisation_id": event.organisation_id,
                        },
                        {"$set": {"reason": ERASED}},
                    ),
                )
            )
        deal = getattr(event, "deal_id", None)
        if of_erased and deal:  # the deal's own tombstone, for its later customer-less events
            writes.append((DEALS, UpdateOne({"_id": deal}, {"$set": {"erased": True}})))
        return writes


async def erasures_named(
    db: AsyncDatabase[repository.Document], letters: Iterable[DeadLetter]
) -> ErasureIndex:
    """The erasures among the identities these letters name: from the erased identities
    the projection keeps, and from the erased customer rows (erasures projected before
    identities were kept)."""
    identities = sorted({i for d in letters for i in d.identities})
    index = ErasureIndex()
    if not identities:
        return index
    for doc in await repository.erased_identities(db, identities):
        for org in doc.get("organisation_ids", []):
            index.add_identity(doc["_id"], org)
    customers = [i.split(":", 1)[1] for i in identities if kind_of(i) == CUSTOMER]
    if customers:
        for cid in await repository.erased_customers(db, customers):
            index.add(None, customer_id=cid)
    return index
