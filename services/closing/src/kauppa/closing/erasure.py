"""Closing's part of GDPR erasure (``CustomerErased``), in one place: the handler that
anonymises the customer's deals and leaves a tombstone, and the check a deal opening
later makes against the tombstones. What of a deal is personal data, and how it is
anonymised, are the pure rules of ``domain/erasure.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kauppa.closing.domain.erasure import erase_customer_deal, erase_referrals_of, same_email
from kauppa.closing.repository import Deals
from kauppa.contracts import CustomerErased, Envelope
from kauppa.contracts.identity import normalise_business_id
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from kauppa.closing.commands import Deps

log = get_logger(__name__)


async def erase_customer(env: Envelope, uow: UnitOfWork, deps: Deps) -> None:
    """GDPR erasure: anonymise the customer's contact person, referrals and free text
    on its deals (by customer id, business id or the contact's email, within the
    organisation), and the erased person as a referral on other deals. Ids, amounts,
    dates, counts and statuses stay. Idempotent: an erased deal maps to itself, so a
    second delivery writes nothing. Emits nothing; the stale-deal timer stays (it
    reminds the seller, carries no personal data)."""
    erased = env.event
    assert isinstance(erased, CustomerErased)
    email = erased.email.strip() if erased.email else None
    business_key = normalise_business_id(erased.business_id)
    deals = uow.repository(Deals)
    changes: list[tuple[str, Document]] = []
    async for deal in deals.of_customer(
        erased.organisation_id, erased.customer_id, business_key, erased.business_id, email
    ):
        is_own = (
            deal.get("customer_id") == erased.customer_id
            or (business_key and normalise_business_id(deal_business_id(deal)) == business_key)
            or (email and same_email(deal_contact_email(deal), email))
        )
        if is_own:
            fields = erase_customer_deal(deal)
        else:
            assert email is not None
            fields = erase_referrals_of(deal, email)
        if fields:
            if is_own and "erased_at" not in deal:
                fields["erased_at"] = erased.erased_at
            changes.append((deal["_id"], fields))
    await deals.set_fields(changes)
    # The tombstone: a deal opened after this (a late or replayed LeadAccepted, from
    # another topic) is opened already erased (see ``erased_before``).
    keys = [erased.customer_id, *([business_key] if business_key else [])]
    await deals.tombstone(erased.organisation_id, keys, erased.erased_at)
    log.info(
        "customer_erased",
        customer_id=erased.customer_id,
        organisation_id=erased.organisation_id,
        deals_changed=len(changes),
    )


async def erased_before(
    uow: UnitOfWork, customers: list[tuple[str, str, str | None]]
) -> set[tuple[str, str]]:
    """Of ``customers`` (organisation, customer id, business key), the (organisation,
    key) pairs whose customer was erased before: their deals open without them."""
    keys = {
        (org, key)
        for org, customer_id, business in customers
        for key in (customer_id, business)
        if key
    }
    return await uow.repository(Deals).tombstoned(keys)


def deal_business_id(deal: Document) -> str | None:
    return (deal.get("prospect") or {}).get("business_id")


def deal_contact_email(deal: Document) -> str | None:
    return ((deal.get("prospect") or {}).get("contact") or {}).get("email")
