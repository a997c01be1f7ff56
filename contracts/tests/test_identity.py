"""The shared prospect identity helpers: one normalisation for every service."""

from __future__ import annotations

import pytest
from kauppa.contracts.identity import company_domain, normalise_business_id, normalise_email


@pytest.mark.parametrize("raw", ["1234567-8", " 1234567 - 8 ", "FI12345678", "fi 1234567.8"])
def test_finnish_business_id_spellings_are_one_company(raw: str) -> None:
    assert normalise_business_id(raw) == "12345678"


@pytest.mark.parametrize("raw", [None, "", "  ", "-"])
def test_no_business_id(raw: str | None) -> None:
    assert normalise_business_id(raw) is None


def test_other_business_ids_are_kept_apart() -> None:
    assert normalise_business_id("1111111-1") != normalise_business_id("2222222-2")


def test_email_case_and_sub_address_are_one_mailbox() -> None:
    assert normalise_email(" Maija+crm@Esimerkki.FI ") == "maija@esimerkki.fi"
    assert normalise_email("not-an-address") is None


def test_company_domain_skips_public_mailbox_providers() -> None:
    assert company_domain("maija@Esimerkki.fi") == "esimerkki.fi"
    assert company_domain("maija@gmail.com") is None
    assert company_domain("maija@elisanet.fi") is None
    assert company_domain(None) is None
