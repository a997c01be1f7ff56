"""An in-memory ``HandoffRepository`` for handler tests under ``FakeUnitOfWork``: the same
methods the handlers and commands use, over dictionaries (leads by id, sellers by
organisation and id)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace

from kauppa.handoff.domain.identity import OpenHandoffs, ProspectIdentity
from kauppa.handoff.domain.lead import DealOutcome, Lead
from kauppa.handoff.domain.routing import Absence, Roster, Seller
from kauppa.handoff.domain.verdicts import LeadStatus
from kauppa.handoff.domain.what_if import QUEUE_DRAIN_LIMIT
from kauppa.handoff.repository import Document, identity_from


class InMemoryHandoffRepository:
    def __init__(self, sellers: Iterable[Seller] = ()) -> None:
        self.leads: dict[str, Document] = {}
        self.sellers: dict[tuple[str, str], Seller] = {
            (s.organisation_id, s.seller_id): s for s in sellers
        }

    def _lead(self, doc: Document) -> Lead:
        return Lead(copy.deepcopy(doc))

    async def get(self, lead_id: str) -> Lead | None:
        doc = self.leads.get(lead_id)
        return self._lead(doc) if doc is not None else None

    async def owner_of(self, lead_id: str) -> tuple[str, str | None] | None:
        doc = self.leads.get(lead_id)
        return (doc["organisation_id"], doc.get("seller_id")) if doc is not None else None

    async def known_lead_ids(self, ids: list[str]) -> set[str]:
        return {i for i in ids if i in self.leads}

    async def organisations_with_queue(self, orgs: Iterable[str]) -> list[str]:
        wanted = set(orgs)
        return sorted(
            {
                d["organisation_id"]
                for d in self.leads.values()
                if d["organisation_id"] in wanted and d.get("status") == LeadStatus.QUEUED
            }
        )

    async def queued(self, orgs: list[str]) -> list[Lead]:
        docs = [
            d
            for d in self.leads.values()
            if d["organisation_id"] in orgs and d.get("status") == LeadStatus.QUEUED
        ]
        docs.sort(key=lambda d: d["queued_at"])
        return [self._lead(d) for d in docs[:QUEUE_DRAIN_LIMIT]]

    async def awaiting_verdict(self, ids: Iterable[str]) -> dict[str, Lead]:
        return {
            i: self._lead(d)
            for i in set(ids)
            if (d := self.leads.get(i)) is not None and d.get("status") == LeadStatus.ASSIGNED
        }

    async def open_handoffs(self, candidates: list[tuple[str, ProspectIdentity]]) -> OpenHandoffs:
        orgs = {o for o, _ in candidates}
        return OpenHandoffs(
            (d["organisation_id"], identity_from(d), d["_id"])
            for d in self.leads.values()
            if d.get("open") and d["organisation_id"] in orgs
        )

    async def add(self, leads: list[Lead]) -> None:
        for lead in leads:
            assert lead.lead_id not in self.leads
            self.leads[lead.lead_id] = copy.deepcopy(lead.state)

    async def save(self, leads: list[Lead]) -> None:
        for lead in leads:
            self.leads[lead.lead_id] = copy.deepcopy(lead.state)

    async def credit_linked(self, lead: Lead) -> None:
        for d in self.leads.values():
            if d.get("linked_to") == lead.lead_id:
                d.update(lead.linked_credit())

    async def record_outcomes(self, outcomes: list[DealOutcome]) -> None:
        for o in outcomes:
            for d in self.leads.values():
                if o.lead_id in (d["_id"], d.get("linked_to")):
                    d.update(o.fields)

    async def record_customers(self, customers: list[tuple[str, str]]) -> None:
        for lead_id, customer_id in customers:
            if lead_id in self.leads:
                self.leads[lead_id]["customer_id"] = customer_id

    async def roster(self, orgs: Iterable[str]) -> Roster:
        wanted = set(orgs)
        return Roster(replace(s) for (org, _), s in self.sellers.items() if org in wanted)

    async def save_roster(self, roster: Roster) -> None:
        for s in roster.changed():
            self.sellers[(s.organisation_id, s.seller_id)] = replace(s)
        roster.saved()

    async def put_seller(
        self, organisation_id: str, seller_id: str, profile: Document, absences: list[Absence]
    ) -> bool:
        was = self.sellers.get((organisation_id, seller_id))
        fields = {k: v for k, v in profile.items() if k != "organisation_id"}
        self.sellers[(organisation_id, seller_id)] = Seller(
            seller_id=seller_id,
            organisation_id=organisation_id,
            **{**fields, "absences": absences},
            open_leads=was.open_leads if was else 0,
            last_assigned_seq=was.last_assigned_seq if was else 0,
        )
        return was is not None
