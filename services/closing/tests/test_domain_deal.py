"""The Deal aggregate's verbs (D5-D10), pure: what each causes, and each refusal with the
fields the HTTP edge answers with."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from kauppa.closing.domain.amendment import AmendmentDraft
from kauppa.closing.domain.close_summary import CloseTerms, LineDraft
from kauppa.closing.domain.deal import (
    STALE_DEAL,
    CloseRefused,
    Deal,
    Incomplete,
    NotOpen,
    opening_event,
    stale_timer_key,
)
from kauppa.contracts import (
    ContactChannel,
    ContactLogged,
    DealAmended,
    DealClosed,
    DealLost,
    DealOpened,
    DealStageChanged,
    OfferSent,
    Referral,
    ReferralReceived,
    StaleDealReminder,
    examples,
)
from kauppa.servicekit.refusals import Conflict, Invalid

from .test_domain_close_summary import complete_terms
from .test_domain_sales_process import PROCESS, T0

CARD = examples.seller_card(seller_id="seller-1")


def a_deal(**overrides: Any) -> Deal:
    values: dict[str, Any] = {
        "deal_id": "deal-lead-1",
        "lead_id": "lead-1",
        "organisation_id": "org-1",
        "customer_id": "cust-org-1-x",
        "seller_id": "seller-1",
        "prospect": examples.prospect().model_dump(mode="json"),
        "source": {"system": "crm", "booker": "booker-1"},
        "stage": "qualified",
        "status": "open",
        "opened_at": T0,
        "last_contact_at": T0,
    }
    values.update(overrides)
    return Deal(**values)


def closed_deal() -> Deal:
    deal = a_deal()
    deal.close(CloseTerms.model_validate(complete_terms()), CARD, now=T0, process=PROCESS)
    deal.changed.clear()
    return deal


def test_d5_a_contact_is_logged_and_rearms_the_reminder_from_it():
    deal = a_deal(stage="closing")
    at = T0 + timedelta(days=2)
    effects = deal.log_contact(ContactChannel.PHONE, "called", at, now=at, process=PROCESS)
    (event,) = effects.events
    assert isinstance(event, ContactLogged) and event.contacted_at == at
    assert (deal.last_contact_at, deal.contacts, deal.updated_at) == (at, 1, at)
    (timer,) = effects.timers
    assert (timer.key, timer.kind) == (stale_timer_key(deal.deal_id), STALE_DEAL)
    assert timer.due_at == at + timedelta(days=3)  # the closing stage's window
    assert deal.changed == ["last_contact_at", "contacts", "updated_at"]


def test_d5_a_contact_in_the_future_or_on_a_lost_deal_is_refused():
    deal = a_deal()
    with pytest.raises(Invalid, match="in the future"):
        deal.log_contact(
            ContactChannel.EMAIL, "x", T0 + timedelta(hours=1), now=T0, process=PROCESS
        )
    lost = a_deal(status="lost")
    with pytest.raises(NotOpen) as refused:
        lost.log_contact(ContactChannel.EMAIL, "x", T0, now=T0, process=PROCESS)
    assert isinstance(refused.value, Conflict)
    assert refused.value.body() == {
        "detail": "cannot log a contact: the deal is lost",
        "status": "lost",
    }
    assert lost.changed == []


def test_d7_an_offer_is_priced_kept_on_file_and_sent_once():
    deal = a_deal()
    lines = [LineDraft.model_validate(line) for line in complete_terms()["lines"]]
    effects = deal.send_offer(
        "offer-1", lines, Decimal("25.5"), date(2026, 4, 1), T0, now=T0, process=PROCESS
    )
    (offer,) = effects.events
    assert isinstance(offer, OfferSent) and offer.price.net.amount == Decimal("3300.00")
    assert deal.offers["offer-1"]["vat_rate"] == "25.5"
    with pytest.raises(Conflict, match="already sent"):
        deal.send_offer(
            "offer-1", lines, Decimal("25.5"), date(2026, 4, 1), T0, now=T0, process=PROCESS
        )
    with pytest.raises(Incomplete) as refused:
        deal.send_offer(
            "offer-2",
            [LineDraft(product_code="X")],
            Decimal("25.5"),
            date(2026, 4, 1),
            T0,
            now=T0,
            process=PROCESS,
        )
    assert refused.value.body()["missing"] == ["content"]
    assert refused.value.body()["detail"] == "missing or invalid: content"


def test_d6_a_move_to_an_unknown_stage_names_the_stages():
    deal = a_deal()
    with pytest.raises(Invalid) as refused:
        deal.move_stage("nowhere", now=T0, process=PROCESS)
    assert refused.value.fields == {"stages": ["qualified", "offer", "closing"]}
    effects = deal.move_stage("closing", now=T0, process=PROCESS)
    assert isinstance(effects.events[0], DealStageChanged) and deal.stage == "closing"
    assert effects.timers[0].due_at == T0 + timedelta(days=3)


def test_d5_a_lost_deal_cancels_its_reminder():
    deal = a_deal()
    effects = deal.lose("budget", now=T0)
    assert isinstance(effects.events[0], DealLost) and deal.status == "lost"
    assert [(t.key, t.cancel) for t in effects.timers] == [(stale_timer_key(deal.deal_id), True)]


def test_d9_a_close_names_every_missing_item_and_the_missing_seller_card():
    deal = a_deal()
    terms = CloseTerms.model_validate(complete_terms(payment_terms=None, signature=None))
    with pytest.raises(CloseRefused) as refused:
        deal.close(terms, None, now=T0, process=PROCESS)
    body = refused.value.body()
    assert body["missing"] == ["payment_terms", "signature", "seller_card"]
    assert body["detail"] == "missing or invalid: payment_terms, signature, seller_card"
    assert "seller-1" in body["problems"]["seller_card"]
    assert deal.status == "open" and deal.changed == []


def test_d10_a_signed_document_must_be_an_https_url():
    terms = complete_terms(
        signature={
            "method": "onsite_signed_form",
            "document_ref": "doc-1",
            "document_url": "javascript:alert(1)",
        }
    )
    with pytest.raises(CloseRefused) as refused:
        a_deal().close(CloseTerms.model_validate(terms), CARD, now=T0, process=PROCESS)
    assert refused.value.body() == {
        "detail": "missing or invalid: ",
        "missing": [],
        "problems": {"signature": "document_url must be an https URL"},
    }


def test_d8_d9_a_complete_close_wins_the_deal_with_its_referrals():
    deal = a_deal()
    referral = Referral(name="Pekka", company="Toinen Oy", email="pekka@toinen.fi")
    terms = CloseTerms.model_validate(complete_terms(referrals=[referral.model_dump()]))
    effects = deal.close(terms, CARD, now=T0, process=PROCESS)
    closed, referred = effects.events
    assert isinstance(closed, DealClosed) and closed.summary_version == 1
    assert isinstance(referred, ReferralReceived) and referred.referral.name == "Pekka"
    assert deal.status == "won" and deal.summary_version == 1
    assert deal.seller_card == CARD.model_dump(mode="json")
    assert [r["name"] for r in deal.referrals] == ["Pekka"]
    assert [t.cancel for t in effects.timers] == [True]


def test_an_amendment_needs_a_won_deal_and_a_change():
    with pytest.raises(Conflict, match="only a closed-won deal"):
        a_deal().amend(AmendmentDraft(vat_rate=Decimal(24)), CARD, now=T0, process=PROCESS)
    deal = closed_deal()
    with pytest.raises(Incomplete) as refused:
        deal.amend(AmendmentDraft(vat_rate=Decimal("25.5")), CARD, now=T0, process=PROCESS)
    assert refused.value.body()["missing"] == ["change"]
    effects = deal.amend(AmendmentDraft(vat_rate=Decimal(24)), None, now=T0, process=PROCESS)
    (amended,) = effects.events
    assert isinstance(amended, DealAmended)
    assert (amended.summary_version, amended.replaces_version) == (2, 1)
    assert amended.seller == CARD  # no card in the directory now: the one of the close
    assert deal.changed == ["summary", "summary_version", "updated_at"]


def test_d5_a_quiet_deal_reminds_its_seller_and_again_after_a_window():
    deal = a_deal(stage="offer")
    now = T0 + timedelta(days=15)
    effects = deal.remind_stale(now=now, process=PROCESS)
    (reminder,) = effects.events
    assert isinstance(reminder, StaleDealReminder) and reminder.days_without_contact == 15
    assert effects.timers[0].due_at == now + timedelta(days=14)


def test_d5_the_opening_event_starts_at_the_first_stage_without_an_erased_customer():
    planned = DealOpened(
        deal_id="deal-lead-1",
        lead_id="lead-1",
        organisation_id="org-1",
        customer_id="cust-1",
        seller_id="seller-1",
        prospect=examples.prospect(),
        source=None,
        stage="qualified",
        opened_at=T0,
    )
    assert opening_event(planned, "qualified", False) is planned
    assert opening_event(planned, "intro", False).stage == "intro"
    erased = opening_event(planned, "qualified", True)
    assert erased.prospect.contact is None
    assert erased.prospect.company_name == planned.prospect.company_name
