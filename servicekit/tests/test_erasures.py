"""The erasure check of dead letters: what an erasure names, and what a body names."""

from __future__ import annotations

import json

from kauppa.contracts import envelope, examples, to_kafka
from kauppa.servicekit.erasures import (
    ErasureIndex,
    business_identity,
    email_identity,
    erased_identities,
    identities_in_bytes,
)


def test_a_lead_names_its_business_id_and_contact_email_however_spelt():
    lead = examples.lead_qualified(
        prospect=examples.prospect(business_id="1234567-8"),
    )
    _topic, _key, value, _headers = to_kafka(envelope(lead, source="t"))
    found = identities_in_bytes(value)
    assert business_identity("FI12345678") in found
    assert email_identity("Maija+crm@Esimerkki.FI") in found
    assert "1234567" not in str(found) and "maija" not in str(found), "digests only"


def test_matching_is_per_organisation_and_customer_ids_match_anywhere():
    index = ErasureIndex()
    index.add("org-a", customer_id="c-1", business_id="1234567-8", email="m@x.fi")
    named = {business_identity("12345678"), email_identity("m@x.fi")}
    assert index.matches("org-a", named) == ["business_id", "email"]
    assert index.matches("org-b", named) == []
    assert index.matches(None, named) == ["business_id", "email"], "unknown: any organisation"
    assert index.matches("org-b", set(erased_identities(customer_id="c-1"))) == ["customer"]


def test_emails_in_free_text_and_bodies_that_are_not_json():
    body = {"deal": {"notes": ["call back: maija@esimerkki.fi, not before 9"]}}
    assert email_identity("maija@esimerkki.fi") in identities_in_bytes(json.dumps(body).encode())
    raw = b"\xff\xfe garbage <maija@esimerkki.fi> more"
    assert identities_in_bytes(raw) == {email_identity("maija@esimerkki.fi")}


def test_a_deep_body_is_walked_without_recursion():
    deep = b"[" * 100_000 + b'"x@y.fi"' + b"]" * 100_000
    assert identities_in_bytes(deep) == {email_identity("x@y.fi")}


def test_an_erasure_read_from_its_topic():
    index = ErasureIndex()
    erased = {"customer_id": "c-9", "organisation_id": "org-a", "email": "p@q.fi"}
    index.add_erasure_body({"specversion": "1.0", "data": erased})
    index.add_erasure_body({"lead_id": "not an erasure"})
    assert index.matches("org-a", {email_identity("P@Q.fi")}) == ["email"]
