"""GDPR erasure rules on a stored deal document (pure, no I/O)."""

from __future__ import annotations

import json

from kauppa.closing.domain.erasure import ERASED, erase_customer_deal, erase_referrals_of
from kauppa.contracts import examples

PROSPECT = examples.prospect().model_dump(mode="json")


def deal() -> dict:
    summary = {"lines": [], "signature": {"method": "e_signature", "signed_by": "Maija"}}
    referral = {"name": "Pekka", "company": "Naapuri Oy", "email": "p@n.fi", "note": "CFO"}
    return {
        "_id": "deal-1",
        "customer_id": "cust-1",
        "prospect": PROSPECT,
        "status": "lost",
        "contacts": 1,
        "lost_reason": "Maija left",
        "summary": summary,
        "referrals": [referral],
        "history": [
            {"type": "DealOpened", "event": {"deal_id": "deal-1", "prospect": PROSPECT}},
            {"type": "ContactLogged", "event": {"deal_id": "deal-1", "summary": "Maija"}},
            {"type": "ReferralReceived", "event": {"referral": referral}},
            {"type": "DealLost", "event": {"reason": "Maija left"}},
        ],
    }


def test_gdpr_erasure_removes_personal_data_and_keeps_the_rest():
    before = deal()
    after = {**before, **erase_customer_deal(before)}
    text = json.dumps(after)
    for value in ("Maija", "maija@esimerkki.fi", "+358 40", "Pekka", "Naapuri", "p@n.fi", "CFO"):
        assert value not in text
    assert after["prospect"]["contact"] is None
    assert after["prospect"]["business_id"] == PROSPECT["business_id"]
    assert (after["status"], after["contacts"], after["lost_reason"]) == ("lost", 1, ERASED)
    assert [h["type"] for h in after["history"]] == [h["type"] for h in before["history"]]


def test_gdpr_erasure_is_idempotent():
    once = {**deal(), **erase_customer_deal(deal())}
    assert erase_customer_deal(once) == {}
    by_email = {**deal(), **erase_referrals_of(deal(), "P@N.FI")}
    assert by_email["referrals"][0]["name"] == ERASED
    assert by_email["prospect"] == PROSPECT  # someone else's deal: only the referral goes
    assert erase_referrals_of(by_email, "p@n.fi") == {}
