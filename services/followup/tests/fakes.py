"""An in-memory ``Relationships`` for handler tests under ``FakeUnitOfWork``: the same
methods the handlers and commands use, on dicts."""

from __future__ import annotations

from collections.abc import Iterable

from kauppa.followup.domain.relationship import Caused, ContactUpdate, CustomerRelationship
from kauppa.followup.repository import contact_document
from kauppa.servicekit.repository import Document


class InMemoryRelationships:
    def __init__(self, *relationships: CustomerRelationship) -> None:
        self.customers: dict[str, Document] = {r.customer_id: r.record for r in relationships}
        self.contacts: dict[str, Document] = {}
        self.reports: dict[str, Document] = {}
        self._held: dict[str, CustomerRelationship] = {}
        self._pending: list[CustomerRelationship] = []
        self._writes: list[Caused] = []
        self.saves = 0

    async def load(self, customer_ids: Iterable[str]) -> None:
        for cid in customer_ids:
            if cid in self.customers and cid not in self._held:
                self._held[cid] = CustomerRelationship(self.customers[cid])

    def get(self, customer_id: str) -> CustomerRelationship | None:
        return self._held.get(customer_id)

    def put(self, relationship: CustomerRelationship) -> None:
        self._held[relationship.customer_id] = relationship
        self._pending.append(relationship)

    def record(self, caused: Caused) -> None:
        self._writes.append(caused)

    def update_contact(self, update: ContactUpdate) -> None:
        self._writes.append(Caused(updates=[update]))

    async def known_contacts(self, contact_ids: Iterable[str]) -> set[str]:
        return {c for c in contact_ids if c in self.contacts}

    async def contact_of(
        self, relationship: CustomerRelationship, contact_id: str
    ) -> Document | None:
        doc = self.contacts.get(contact_id)
        if doc is None or doc["customer_id"] != relationship.customer_id:
            return None
        return doc

    async def report_exists(self, report_id: str) -> bool:
        return report_id in self.reports

    async def add_report(self, report: Document) -> None:
        assert report["_id"] not in self.reports
        self.reports[report["_id"]] = report

    async def save(self) -> None:
        self.saves += 1
        for r in self._pending:
            self.customers[r.customer_id] = r.record
        for caused in self._writes:
            for u in caused.updates:
                doc = self.contacts.get(u.contact_id)
                if doc is not None and doc["state"] == u.when_state:
                    doc.update(u.changes)
            for c in caused.contacts:
                self.contacts.setdefault(c.contact_id, contact_document(c))
        self._pending, self._writes = [], []
