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
from datetime import datetime
from typing import Any

from kauppa.contracts.events.privacy import ERASED, ERASED_REFERRAL, CustomerErased
from kauppa.followup.campaigns import count_outcomes
from kauppa.followup.domain.identities import contact_timer_key
from kauppa.followup.relationships import new_customer
from kauppa.followup.store import CONTACTS, CUSTOMERS, REPORTS
from kauppa.servicekit.mongo import equals_ignoring_case
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateOne

Document = dict[str, Any]
REDACTED = ERASED


def is_erased(customer: Document | None) -> bool:
    return bool(customer and customer.get("erased_at"))


def _redacted_list(field: str) -> Document:
    """``[REDACTED, ...]`` of the same length as the stored list (counts stay true)."""
    return {"$map": {"input": {"$ifNull": [f"${field}", []]}, "in": REDACTED}}


async def erase_customer(uow: UnitOfWork, erased: CustomerErased) -> None:
    db, session, cid = uow.db, uow.session, erased.customer_id
    customer = await db[CUSTOMERS].find_one({"_id": cid}, session=session)
    erased_at: datetime = (customer or {}).get("erased_at") or erased.erased_at

    # 1. Scheduled contacts: cancel their timers (no ContactDue to an erased person).
    cancelled_per_campaign: Counter[str] = Counter()
    pending = await (
        db[CONTACTS]
        .find({"customer_id": cid, "state": "scheduled"}, {"campaign_id": 1}, session=session)
        .to_list()
    )
    for c in pending:
        uow.cancel(contact_timer_key(c["_id"]))
        if c.get("campaign_id"):
            cancelled_per_campaign[c["campaign_id"]] += 1
    if pending:
        await db[CONTACTS].bulk_write(
            [
                UpdateOne({"_id": c["_id"], "state": "scheduled"}, {"$set": {"state": "cancelled"}})
                for c in pending
            ],
            session=session,
        )
    await count_outcomes(uow, cancelled=cancelled_per_campaign)

    # 2. Contacts: the talking points quote problem descriptions; keep their codes only.
    await db[CONTACTS].update_many(
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
        session=session,
    )

    # 3. Reports the seller logged about this customer: free text and referred persons.
    await db[REPORTS].update_many(
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
        session=session,
    )
    # The erased person named as a referral in another customer's report (by email).
    if erased.email:
        email = equals_ignoring_case(erased.email)
        await db[REPORTS].update_many(
            {"referrals.email": email},
            {"$set": {"referrals.$[r]": ERASED_REFERRAL}},
            array_filters=[{"r.email": email}],
            session=session,
        )

    # 4. The customer record: a tombstone without personal data or a next contact.
    tombstone: Document = {
        "active": False,
        "erased_at": erased_at,
        "company_name": None,
        "next_contact": None,
        "next_contact_due_at": None,
        "next_contact_overshoot_s": None,
        "contact_deadline": None,
    }
    if customer is None:
        # Unknown so far: a tombstone keeps late events from creating the record.
        record = new_customer(cid, erased.organisation_id, uow.now)
        await db[CUSTOMERS].update_one(
            {"_id": cid},
            {
                "$setOnInsert": {
                    k: v for k, v in record.items() if k != "_id" and k not in tombstone
                },
                "$set": tombstone,
            },
            upsert=True,
            session=session,
        )
        return
    await db[CUSTOMERS].update_one(
        {"_id": cid},
        [
            {
                "$set": {
                    **{k: {"$literal": v} for k, v in tombstone.items()},
                    "open_problems": {
                        "$map": {
                            "input": {"$ifNull": ["$open_problems", []]},
                            "in": {"$mergeObjects": ["$$this", {"description": REDACTED}]},
                        }
                    },
                }
            }
        ],
        session=session,
    )
