"""The plan: what happens to each lead, decided up front from the seed (a run is repeatable)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kauppa.cli.demo.cast import (
    FIRST,
    INDUSTRIES,
    LAST,
    NAME_A,
    NAME_B,
    ORGS,
    PROBLEMS,
    PRODUCTS,
    REGIONS,
    SIZES,
    SOURCE_SYSTEM,
    SOURCES,
    TITLES,
    Org,
    SourceProfile,
    slug,
)
from kauppa.contracts import (
    ContactPerson,
    CriterionEvidence,
    LeadQualified,
    LeadSource,
    Prospect,
    QualificationCriteria,
)


@dataclass
class LeadPlan:
    """What happens to one lead, decided up front from the seed (so a run is repeatable)."""

    lead_id: str
    source: SourceProfile
    org: Org
    event: LeadQualified
    accept: bool
    return_reason: str
    via_kafka_verdict: bool
    outcome: str  # close, lose, open
    products: list[tuple[str, int]]
    upsell: str | None
    signature: str
    referral: bool
    incomplete_first_close: bool
    contacts: int
    delivered: bool
    problem: str | None
    referral_on_call: bool
    upsell_interest: bool
    next_contact_days: int | None
    call_ahead: bool
    duplicate_of: str | None = None
    # What was observed
    status: str = "sent"  # sent, rejected, duplicate, assigned, accepted, returned
    seller_id: str | None = None
    deal_id: str | None = None
    customer_id: str | None = None
    deal_state: str = ""  # opened, closed, lost, open
    offer_ref: str | None = None


def _weighted(rng: random.Random, options: Iterable[tuple[str, float]]) -> str:
    names, weights = zip(*options, strict=True)
    return rng.choices(names, weights=weights)[0]


def make_plan(n: int, seed: int, run_id: str, now: datetime) -> list[LeadPlan]:
    rng = random.Random(seed)
    base = int(uuid.UUID(int=random.Random(run_id).getrandbits(128)).int % 9_000_000) + 1_000_000
    plans: list[LeadPlan] = []
    for i in range(n):
        src = _weighted(rng, ((s.key, s.share) for s in SOURCES))
        source = next(s for s in SOURCES if s.key == src)
        org = ORGS[0] if rng.random() < 0.7 else ORGS[1]
        lead_id = f"lead-{run_id}-{i:04d}"
        company = f"{rng.choice(NAME_A)}{rng.choice(NAME_B)} Oy"
        if org is ORGS[1] and rng.random() < 0.5:
            company = company.replace(" Oy", " Ab")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = f"{slug(company.split()[0])}-{base + i}.example"
        locale = (
            "sv-FI" if company.endswith(" Ab") else ("en-GB" if rng.random() < 0.05 else "fi-FI")
        )
        industry = rng.choice(INDUSTRIES)
        business_id = f"{(base + i) % 10_000_000:07d}-{i % 10}"
        bad_data = rng.random() < source.bad_data
        contact = ContactPerson(
            name=f"{first} {last}",
            title=rng.choice(TITLES),
            email=None if bad_data else f"{slug(first)}.{slug(last)}@{domain}",
            phone=None if bad_data else f"+358 50 {rng.randint(1000000, 9999999)}",
        )
        prospect = Prospect(
            company_name=company,
            business_id=business_id,
            contact=contact,
            locale=locale,
            country="FI",
            region=rng.choice(REGIONS),
            industry=industry,
            size=rng.choice(SIZES),
        )
        met = rng.random() < source.criteria_met
        unmet: set[str] = set()
        if not met:
            unmet = set(
                rng.sample(["benefit", "ready_now", "budget", "authority"], rng.randint(1, 2))
            )
        evidence = {
            "benefit": ("Saves two hours a day in order handling", "No clear need found"),
            "ready_now": ("Wants it running this quarter", "Maybe next year"),
            "budget": ("Budget 20-40 k€ reserved", "No budget discussed"),
            "authority": ("The CEO decides and was on the call", "Decision maker unknown"),
        }
        criteria = QualificationCriteria(
            **{
                k: CriterionEvidence(met=k not in unmet, evidence=v[1] if k in unmet else v[0])
                for k, v in evidence.items()
            }
        )
        main = rng.choice(["CRM-PRO", "CRM-PRO", "ERP-BASIC"])
        products = [(main, rng.choice([1, 1, 2, 3, 5]))]
        if rng.random() < 0.2:
            other = "ERP-BASIC" if main == "CRM-PRO" else "CRM-PRO"
            products.append((other, 1))
        event = LeadQualified(
            lead_id=lead_id,
            organisation_id=org.org_id,
            source=LeadSource(
                system=source.system,
                booker=rng.choice(source.bookers),
                campaign=rng.choice(source.campaigns),
                partner=source.partner,
            ),
            prospect=prospect,
            criteria=criteria,
            product_interest=sorted({PRODUCTS[c].line for c, _ in products}),
            notes=f"{SOURCE_SYSTEM} run {run_id}",
            qualified_at=now,
        )
        outcome_roll = rng.random()
        outcome = (
            "close" if outcome_roll < source.close else ("open" if outcome_roll > 0.92 else "lose")
        )
        plan = LeadPlan(
            lead_id=lead_id,
            source=source,
            org=org,
            event=event,
            accept=rng.random() < source.accept,
            return_reason=_weighted(rng, source.returns),
            via_kafka_verdict=rng.random() < 0.25,
            outcome=outcome,
            products=products,
            upsell=rng.choice([None, "TRAIN-1D", "SUPPORT-PLUS"]),
            signature=rng.choice(["onsite_signed_form", "accepted_offer", "e_signature"]),
            referral=rng.random() < 0.3,
            incomplete_first_close=rng.random() < 0.08,
            contacts=rng.randint(1, 3),
            delivered=rng.random() < 0.9,
            problem=rng.choice(PROBLEMS) if rng.random() < 0.2 else None,
            referral_on_call=rng.random() < 0.2,
            upsell_interest=rng.random() < 0.3,
            next_contact_days=None if rng.random() < 0.2 else rng.randint(60, 200),
            call_ahead=rng.random() < 0.7,
        )
        # The poor partner re-sends prospects it already sent (same business id).
        earlier = [p for p in plans if p.source.key == "partner" and p.org is org]
        if earlier and rng.random() < source.duplicate and source.key == "partner":
            first_plan = rng.choice(earlier)
            plan.event = event.model_copy(update={"prospect": first_plan.event.prospect})
            plan.duplicate_of = first_plan.lead_id
        plans.append(plan)
    return plans
