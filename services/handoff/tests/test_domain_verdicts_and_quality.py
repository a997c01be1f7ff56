"""D3 verdicts and D2/D4 source quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kauppa.contracts import ReturnReason, Verdict
from kauppa.handoff.domain.source_quality import LeadFacts, source_quality
from kauppa.handoff.domain.verdicts import VerdictAccepted, VerdictRefused, judge_verdict

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def judge(**kw: object) -> object:
    values: dict[str, object] = {
        "status": "assigned",
        "assigned_seller": "s1",
        "seller_id": "s1",
        "verdict": Verdict.RETURN,
        "reason_code": ReturnReason.NO_BUDGET,
        "reason_text": None,
    }
    values.update(kw)
    return judge_verdict(**values)  # type: ignore[arg-type]


def test_d3_only_the_assigned_seller_may_judge_an_assigned_lead() -> None:
    assert isinstance(judge(), VerdictAccepted)
    assert isinstance(judge(seller_id="s2"), VerdictRefused)
    assert isinstance(judge(status="accepted"), VerdictRefused)
    assert isinstance(judge(status=None), VerdictRefused)


def test_d3_return_needs_a_reason_and_other_needs_text() -> None:
    assert isinstance(judge(reason_code=None), VerdictRefused)
    assert isinstance(judge(reason_code=ReturnReason.OTHER), VerdictRefused)
    ok = judge(reason_code=ReturnReason.OTHER, reason_text=" moved abroad ")
    assert isinstance(ok, VerdictAccepted) and ok.reason_text == "moved abroad"


def facts(lead_id: str, partner: str, **kw: object) -> LeadFacts:
    return LeadFacts(
        lead_id=lead_id,
        source={"system": "crm", "partner": partner, "campaign": None, "booker": "b1"},
        received_at=T0,
        status=str(kw.pop("status", "x")),
        **kw,  # type: ignore[arg-type]
    )


def test_d2_d4_quality_per_partner_with_rates_reasons_and_time_to_verdict() -> None:
    assigned = {"assigned_at": T0}
    rows = source_quality(
        [
            facts("1", "acme", unmet_criteria=("budget", "authority")),
            facts("2", "acme", malformed=True),
            facts(
                "3",
                "acme",
                verdict="accept",
                verdict_at=T0 + timedelta(hours=2),
                closed=True,
                **assigned,
            ),
            facts(
                "4",
                "acme",
                verdict="return",
                return_reason="no_budget",
                verdict_at=T0 + timedelta(hours=4),
                **assigned,
            ),
            facts("5", "beta", verdict="accept", verdict_at=T0 + timedelta(hours=1), **assigned),
            facts("6", "beta", linked_to="3", verdict="accept", closed=True),
        ],
        ["partner"],
    )
    acme, beta = (r.as_dict() for r in rows)
    assert acme["value"] == "acme" and acme["received"] == 4
    assert acme["rejected"] == 2 and acme["malformed"] == 1
    assert acme["rejected_by_criterion"] == {"authority": 1, "budget": 1}
    assert acme["assigned"] == 2 and acme["accepted"] == 1 and acme["returned"] == 1
    assert acme["returned_by_reason"] == {"no_budget": 1}
    assert acme["acceptance_rate"] == 0.5 and acme["suitable_rate"] == 0.5
    assert acme["closed"] == 1 and acme["close_rate_of_accepted"] == 1.0
    assert acme["time_to_verdict_hours"] == {"n": 2, "mean": 3.0, "median": 3.0}
    # The duplicate from beta is credited with the acceptance and the close.
    assert beta["linked_as_duplicate"] == 1 and beta["accepted"] == 2 and beta["closed"] == 1


def test_queued_leads_are_counted_per_source_by_why_they_waited() -> None:
    rows = source_quality(
        [
            facts("1", "acme", queue_reason="all_at_capacity", assigned_at=T0),
            facts("2", "acme", queue_reason="no_seller_for_language"),
            facts("3", "acme", queue_reason="all_at_capacity"),
            facts("4", "acme", assigned_at=T0),
        ],
        ["partner"],
    )
    (acme,) = (r.as_dict() for r in rows)
    assert acme["queued"] == 3 and acme["assigned"] == 2
    assert acme["queued_by_reason"] == {"all_at_capacity": 2, "no_seller_for_language": 1}
