"""Privacy events."""

from __future__ import annotations

from kauppa.contracts import topics
from kauppa.contracts.base import Event, UtcDatetime
from kauppa.contracts.bounds import DerivedId, Id, ShortText

ERASED = "[erased]"
"""What an erased person's free text or name is replaced by, in every service."""

ERASED_REFERRAL = {"name": ERASED, "company": None, "email": None, "phone": None, "note": None}
"""A ``Referral`` (JSON form) whose person is erased: nothing said about them stays, the
company they were recommended at included; every service stores the same."""


class CustomerErased(Event):
    type_name = "CustomerErased"
    topic = topics.PRIVACY.name
    key_field = "customer_id"
    emitted_by = "privacy / admin tooling"
    external_producer = True
    consumed_by = ("handoff", "closing", "confirmation", "followup", "dashboard", "webhooks")
    meaning = "GDPR erasure: every service removes or anonymises the person's data."

    customer_id: DerivedId
    organisation_id: Id
    business_id: ShortText | None = None
    email: ShortText | None = None
    requested_by: ShortText
    erased_at: UtcDatetime
