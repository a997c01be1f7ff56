"""The handoff's part of GDPR erasure (``CustomerErased``), in one place: what is taken
out of a lead, which leads an erasure finds, the tombstone that erases a lead linked to
the customer later, and the kit's cached HTTP answers about those leads.

The contact person's data goes; ids, source, statuses, dates and counts stay, so the
quality statistics stay true. Nothing is emitted."""

from __future__ import annotations

from kauppa.contracts import Criterion, CustomerErased, DealClosed, DealOpened, Envelope
from kauppa.contracts.identity import normalise_business_id, normalise_email
from kauppa.handoff.repository import ERASURES, LEADS, Document
from kauppa.servicekit.http import cached_replies_update
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, UnitOfWork

# What erasure removes from a lead: the contact person (name, title, email, phone), the
# normalised email kept for duplicate detection, and free text that may name the person
# (discovery evidence in the booker's words, the seller's return text).
ERASED_FIELDS: Document = {
    "prospect.contact": None,
    "identity.email": None,
    **{f"criteria.{c}.evidence": None for c in Criterion},
}


# The same, in a lead as the API shows it (``lead_view``).
ERASED_IN_VIEW: Document = {"prospect.contact": None, "return_text": None}


def erasure_query(event: CustomerErased) -> Document | None:
    """Leads of the organisation about this customer, not yet erased: by the customer id
    closing gave the lead, by business id, by contact email (both normalised as the
    duplicate check does). None when the event names no key at all."""
    keys: list[Document] = [{"customer_id": event.customer_id}] if event.customer_id else []
    if business_id := normalise_business_id(event.business_id):
        keys.append({"identity.business_id": business_id})
    if email := normalise_email(event.email):
        keys.append({"identity.email": email})
    if not keys:
        return None
    return {"organisation_id": event.organisation_id, "erased_at": None, "$or": keys}


def erasure_update(event: CustomerErased) -> Document:
    return {
        "$set": {**ERASED_FIELDS, "erased_at": event.erased_at},
        "$unset": {"return_text": ""},
    }


async def erase_customer(batch: list[Envelope], uow: UnitOfWork, deps: object) -> None:
    """GDPR erasure: the contact person's data goes from every lead about that
    customer; ids, source, statuses, dates and counts stay (statistics stay true)."""
    leads, tombstones = uow.collection(LEADS), uow.collection(ERASURES)
    for env in batch:
        event = env.event
        if isinstance(event, CustomerErased) and event.customer_id:
            # The tombstone: a lead linked to this customer later (a DealOpened or
            # DealClosed processed after the erasure) is erased when linked.
            await tombstones.update_one(
                {"_id": f"{event.organisation_id}|{event.customer_id}"},
                {"$setOnInsert": {"at": event.erased_at}},
                upsert=True,
            )
        if not isinstance(event, CustomerErased) or not (query := erasure_query(event)):
            continue
        ids = [d["_id"] async for d in leads.find(query, {"_id": 1})]
        if not ids:
            continue
        await leads.update_many({"_id": {"$in": ids}}, erasure_update(event))
        # The kit's Idempotency-Key cache holds verdict answers (the lead as shown).
        await uow.collection(IDEMPOTENCY).bulk_write(
            [cached_replies_update({"lead_id": {"$in": ids}}, ERASED_IN_VIEW)]
        )


async def erase_if_tombstoned(batch: list[Envelope], uow: UnitOfWork) -> None:
    """Leads just linked to a customer erased before (see the tombstone in
    ``erase_customer``) lose the person's data now."""
    linked = {
        f"{e.organisation_id}|{e.customer_id}": e
        for env in batch
        if isinstance(e := env.event, DealOpened | DealClosed) and e.lead_id
    }
    if not linked:
        return
    leads = uow.collection(LEADS)
    async for tomb in uow.collection(ERASURES).find({"_id": {"$in": sorted(linked)}}):
        e = linked[tomb["_id"]]
        await leads.update_many(
            {
                "$or": [{"_id": e.lead_id}, {"linked_to": e.lead_id}],
                "organisation_id": e.organisation_id,
                "erased_at": None,
            },
            {
                "$set": {**ERASED_FIELDS, "erased_at": tomb["at"]},
                "$unset": {"return_text": ""},
            },
        )
