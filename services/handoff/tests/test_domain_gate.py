"""D1: the gate, and the malformed-data checks that go with it."""

from __future__ import annotations

from kauppa.contracts import ContactPerson, Criterion, examples
from kauppa.handoff.domain.gate import check_lead


def test_d1_a_lead_meeting_all_three_criteria_passes() -> None:
    assert check_lead(examples.lead_qualified()).passes


def test_d1_each_unmet_criterion_is_named() -> None:
    for name in ("benefit", "ready_now", "budget", "authority"):
        lead = examples.lead_qualified(criteria=examples.criteria(**{name: False}))
        decision = check_lead(lead)
        assert not decision.passes
        assert decision.unmet_criteria == [Criterion(name)]


def test_d1_able_to_buy_needs_budget_and_authority_all_unmet_named() -> None:
    lead = examples.lead_qualified(
        criteria=examples.criteria(benefit=False, ready_now=False, budget=False, authority=False)
    )
    assert check_lead(lead).unmet_criteria == [
        Criterion.BENEFIT,
        Criterion.READY_NOW,
        Criterion.BUDGET,
        Criterion.AUTHORITY,
    ]


def test_d1_missing_contact_is_a_problem_not_a_crash() -> None:
    lead = examples.lead_qualified(prospect=examples.prospect(contact=None))
    decision = check_lead(lead)
    assert not decision.passes and decision.unmet_criteria == []
    assert any("missing contact" in p for p in decision.problems)


def test_d1_contact_without_email_or_phone_is_missing() -> None:
    lead = examples.lead_qualified(prospect=examples.prospect(contact=ContactPerson(name="X")))
    assert any("missing contact" in p for p in check_lead(lead).problems)


def test_d1_bad_email_and_unknown_locale_are_both_reported() -> None:
    contact = ContactPerson(name="M", email="maija(at)esimerkki", phone=None)
    lead = examples.lead_qualified(prospect=examples.prospect(contact=contact, locale="xx-QQ"))
    problems = check_lead(lead).problems
    assert any("bad email" in p for p in problems)
    assert any("unknown locale" in p for p in problems)
    assert not any("maija" in p for p in problems)  # the address is not quoted (GDPR)


def test_d1_phone_only_contact_and_swedish_locale_are_fine() -> None:
    contact = ContactPerson(name="M", phone="+358 40 1")
    lead = examples.lead_qualified(prospect=examples.prospect(contact=contact, locale="sv-FI"))
    assert check_lead(lead).passes
