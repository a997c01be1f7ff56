"""GDPR erasure (``CustomerErased``): the customer's personal data is scrubbed in place,
the ids, dates, amounts, counts and states stay so statistics remain true.

The customer record becomes a tombstone (``erased_at`` set, ``active`` false): no further
contact is scheduled or fired for it, the invariant audit (which only looks at active
customers) does not count it, segments and campaigns skip it, and later or replayed
events for the same customer id are ignored so they cannot bring the data back.

Every write sets a constant (or only touches rows still in a pre-erasure state), so a
second run changes nothing."""

from __future__ import annotations

from collections import Counter

from kauppa.contracts.events.privacy import ERASED, ERASED_REFERRAL, CustomerErased
from kauppa.followup.campaigns import count_outcomes
from kauppa.followup.domain.identities import contact_timer_key
from kauppa.followup.domain.relationship import CustomerRelationship
from kauppa.followup.repository import CONTACTS, REPORTS, Relationships
from kauppa.servicekit.mongo import equals_ignoring_case
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateOne

REDACTED = ERASED


def _redacted_list(field: str) -> Document:
    """``[REDACTED, ...]`` of the same length as the stored list (counts stay true)."""
    return {"$map": {"input": {"$ifNull": [f"${field}", []]}, "in": REDACTED}}


async def erase_customer(uow: UnitOfWork, erased: CustomerErased) -> None:
    cid = erased.customer_id
    contacts, reports = uow.collection(CONTACTS), uow.collection(REPORTS)

    # 1. Scheduled contacts: cancel their timers (no ContactDue to an erased person).
    cancelled_per_campaign: Counter[str] = Counter()
    pending = await contacts.find(
        {"customer_id": cid, "state": "scheduled"}, {"campaign_id": 1}
    ).to_list()
    for c in pending:
        uow.cancel(contact_timer_key(c["_id"]))
        if c.get("campaign_id"):
            cancelled_per_campaign[c["campaign_id"]] += 1
    if pending:
        await contacts.bulk_write(
            [
                UpdateOne({"_id": c["_id"], "state": "scheduled"}, {"$set": {"state": "cancelled"}})
                for c in pending
            ]
        )
    await count_outcomes(uow, cancelled=cancelled_per_campaign)

    # 2. Contacts: the talking points quote problem descriptions; keep their codes only.
    await contacts.update_many(
        {"customer_id": cid, "talking_points.text": {"$ne": REDACTED}},
        [
            {
                "$set": {
                    "talking_points": {
                        "$map": {
                            "input": {"$ifNull": ["$talking_points", []]},
                            "in": {"code": "$$this.code", "text": REDACTED},
                        }
                    }
                }
            }
        ],
    )

    # 3. Reports the seller logged about this customer: free text and referred persons.
    await reports.update_many(
        {"customer_id": cid},
        [
            {
                "$set": {
                    "notes": None,
                    "problems": _redacted_list("problems"),
                    "referrals": {
                        "$map": {
                            "input": {"$ifNull": ["$referrals", []]},
                            "in": {"$literal": ERASED_REFERRAL},
                        }
                    },
                }
            }
        ],
    )
    # The erased person named as a referral in another customer's report (by email).
    if erased.email:
        email = equals_ignoring_case(erased.email)
        await reports.update_many(
            {"referrals.email": email},
            {"$set": {"referrals.$[r]": ERASED_REFERRAL}},
            array_filters=[{"r.email": email}],
        )

    # 4. The relationship: a tombstone without personal data or a next contact; one
    # unknown so far gets a tombstone too, which keeps late events from creating it.
    relationships = uow.repository(Relationships)
    await relationships.load([cid])
    relationship = relationships.get(cid) or CustomerRelationship.new(
        cid, erased.organisation_id, uow.now
    )
    relationship.erase(erased.erased_at)
    relationships.put(relationship)
    await relationships.save()
