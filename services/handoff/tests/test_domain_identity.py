"""Duplicates (D2/D4 crediting): the same prospect from a second source is recognised."""

from __future__ import annotations

from kauppa.contracts import ContactPerson, examples
from kauppa.contracts.identity import normalise_business_id
from kauppa.handoff.domain.identity import identity_of, same_prospect


def test_d2_business_id_normalisation() -> None:
    assert normalise_business_id("FI12345678") == normalise_business_id(" 1234567-8 ")


def test_d2_same_business_id_is_the_same_prospect_whatever_the_email() -> None:
    a = identity_of(examples.prospect(business_id="1234567-8"))
    b = identity_of(
        examples.prospect(business_id="FI12345678", contact=ContactPerson(email="x@other.fi"))
    )
    assert same_prospect(b, a) == "business_id"


def test_d2_different_business_ids_are_different_companies_even_with_the_same_email() -> None:
    a = identity_of(examples.prospect(business_id="1111111-1"))
    b = identity_of(examples.prospect(business_id="2222222-2"))
    assert same_prospect(b, a) is None


def test_d2_without_business_id_normalised_email_then_domain_match() -> None:
    known = identity_of(
        examples.prospect(business_id=None, contact=ContactPerson(email="Maija+crm@Esimerkki.fi"))
    )
    by_email = identity_of(
        examples.prospect(
            business_id="3333333-3", contact=ContactPerson(email="maija@esimerkki.fi")
        )
    )
    by_domain = identity_of(
        examples.prospect(business_id=None, contact=ContactPerson(email="pekka@esimerkki.fi"))
    )
    assert same_prospect(by_email, known) == "email"
    assert same_prospect(by_domain, known) == "domain"


def test_d2_public_mailbox_domains_do_not_make_duplicates() -> None:
    a = identity_of(examples.prospect(business_id=None, contact=ContactPerson(email="a@gmail.com")))
    b = identity_of(examples.prospect(business_id=None, contact=ContactPerson(email="b@gmail.com")))
    assert same_prospect(b, a) is None
