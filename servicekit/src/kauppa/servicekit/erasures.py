"""Who an erasure names, and whether a record (a dead letter's body) names any of them.

A ``CustomerErased`` names a customer by its id and, when known, by the company's
business id and the person's email. The services match an erasure by each of them within
the organisation (handoff: customer id, normalised business id and email; closing:
customer id, business id, contact and referral email; followup and confirmation:
customer id and email). A dead letter whose body names any of them would, replayed,
bring the person's data back into every service that reads it: it is refused.

Identities are kept as digests (``customer:<id>``, ``business_id:<sha256>``,
``email:<sha256>`` of the value normalised as ``kauppa.contracts.identity`` does), so
that a store of erased identities holds no erased email itself.

Matching is per organisation: a business id or email erased in organisation A does not
refuse a letter of organisation B (the same company may be B's customer still); a
letter whose organisation cannot be read is matched against every organisation. A
customer id is matched in any organisation (customer ids are derived per organisation).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kauppa.contracts.identity import normalise_business_id, normalise_email
from kauppa.contracts.topics import PRIVACY
from kauppa.servicekit.settings import KafkaSettings
from kauppa.servicekit.tail import open_groupless_consumer

CUSTOMER, BUSINESS_ID, EMAIL = "customer", "business_id", "email"
ANY_ORGANISATION = "*"
_EMAIL_IN_TEXT = re.compile(r"[^\s\"'<>()\[\]{},;:@\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_SCAN_MAX = 16 * 1024 * 1024


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def customer_identity(customer_id: str) -> str:
    return f"{CUSTOMER}:{customer_id}"


def business_identity(business_id: str | None) -> str | None:
    key = normalise_business_id(business_id)
    return f"{BUSINESS_ID}:{_digest(key)}" if key else None


def email_identity(email: str | None) -> str | None:
    key = normalise_email(email)
    return f"{EMAIL}:{_digest(key)}" if key else None


def erased_identities(
    *, customer_id: str | None, business_id: str | None = None, email: str | None = None
) -> list[str]:
    """The identities one erasure names (what a later record must not carry)."""
    found = [customer_identity(customer_id)] if customer_id else []
    found += [i for i in (business_identity(business_id), email_identity(email)) if i]
    return found


def kind_of(identity: str) -> str:
    return identity.split(":", 1)[0]


def identities_in(body: Any) -> set[str]:
    """The identities a decoded JSON body names anywhere in it: a string under a key
    ending in ``customer_id`` or ``business_id``, and any string that is an email
    address (whatever its key: a contact's, a referral's, a recipient's). Walked without
    recursion, so a deep body cannot exhaust the stack."""
    found: set[str] = set()
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((key, v) for v in node)
        elif isinstance(node, str) and node:
            if key.endswith("customer_id"):
                found.add(customer_identity(node))
            elif key.endswith("business_id") and (identity := business_identity(node)):
                found.add(identity)
            if "@" in node:
                found |= {i for m in _EMAIL_IN_TEXT.findall(node) if (i := email_identity(m))}
    return found


def identities_in_bytes(value: bytes | None) -> set[str]:
    """``identities_in`` of a record's value; a value that is not JSON (or too deep to
    parse) is scanned as text for email addresses."""
    if not value:
        return set()
    try:
        return identities_in(json.loads(value))
    except (ValueError, UnicodeDecodeError, RecursionError):
        text = value[:_SCAN_MAX].decode("utf-8", errors="replace")
        return {i for m in _EMAIL_IN_TEXT.findall(text) if (i := email_identity(m))}


@dataclass
class ErasureIndex:
    """Erased identities and the organisations they were erased in."""

    organisations: dict[str, set[str]] = field(default_factory=dict)

    def add_identity(self, identity: str, organisation_id: str | None) -> None:
        org = organisation_id if organisation_id else ANY_ORGANISATION
        if kind_of(identity) == CUSTOMER:
            org = ANY_ORGANISATION
        self.organisations.setdefault(identity, set()).add(org)

    def add(
        self,
        organisation_id: str | None,
        *,
        customer_id: str | None,
        business_id: str | None = None,
        email: str | None = None,
    ) -> None:
        for identity in erased_identities(
            customer_id=customer_id, business_id=business_id, email=email
        ):
            self.add_identity(identity, organisation_id)

    def matches(self, organisation_id: str | None, identities: Iterable[str]) -> list[str]:
        """What of ``identities`` (a record of ``organisation_id``; None: unknown) was
        erased: the kinds matched (``customer``, ``business_id``, ``email``), sorted."""
        kinds = set()
        for identity in identities:
            orgs = self.organisations.get(identity)
            if orgs and (
                organisation_id is None or ANY_ORGANISATION in orgs or organisation_id in orgs
            ):
                kinds.add(kind_of(identity))
        return sorted(kinds)

    def add_erasure_body(self, body: Any) -> None:
        """A ``CustomerErased`` as read from its topic (its JSON body; structured
        CloudEvents unwrapped); anything else is ignored."""
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and "specversion" in body:
            body = body["data"]
        if not isinstance(body, dict) or not isinstance(body.get("customer_id"), str):
            return
        strings = {k: v if isinstance(v, str) else None for k, v in body.items()}
        self.add(
            strings.get("organisation_id"),
            customer_id=strings.get("customer_id"),
            business_id=strings.get("business_id"),
            email=strings.get("email"),
        )


async def read_erasures(settings: KafkaSettings, *, timeout: float = 5.0) -> ErasureIndex:
    """Every erasure still on the privacy topic (``kauppa.privacy``, kept a year), read
    from its start without a consumer group: what an operator tool outside the services
    (``kauppa dlq replay``) checks dead letters against."""
    index = ErasureIndex()
    try:
        consumer = await open_groupless_consumer(settings, [PRIVACY.name], from_end=False, wait=0)
    except LookupError:
        return index
    try:
        loop = asyncio.get_running_loop()
        deadline, quiet = loop.time() + timeout, 0
        while quiet < 2 and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            quiet = 0 if batch else quiet + 1
            for messages in batch.values():
                for m in messages:
                    try:
                        index.add_erasure_body(json.loads(m.value or b""))
                    except (ValueError, UnicodeDecodeError, RecursionError):
                        continue
        return index
    finally:
        await consumer.stop()
