"""An in-memory ``Confirmations`` repository for handler tests under ``FakeUnitOfWork``:
the same methods the handlers use, over dicts, with the repository's own document
mapping (``from_document``, ``update_of``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from kauppa.confirmation.domain.confirmation import Confirmation
from kauppa.confirmation.domain.delivery_attempts import SUPERSEDABLE, ConfirmationState
from kauppa.confirmation.repository import Document, from_document, saved, update_of


class InMemoryConfirmations:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.erasures: dict[str, Document] = {}
        self.policies: dict[str, Document] = {}
        self.scrubbed: list[str] = []

    def _load(self, keep: Any) -> list[Confirmation]:
        return [from_document(d) for d in self.docs.values() if keep(d)]

    async def get(self, key: str) -> Confirmation | None:
        return from_document(self.docs[key]) if key in self.docs else None

    async def get_many(self, keys: Sequence[str]) -> list[Confirmation]:
        return self._load(lambda d: d["_id"] in keys)

    async def scheduled(self, keys: Sequence[str]) -> list[Confirmation]:
        return self._load(lambda d: d["_id"] in keys and d["state"] == "scheduled")

    async def unsent_older(self, deal_id: str, version: int) -> list[Confirmation]:
        states = {s.value for s in SUPERSEDABLE}
        return self._load(
            lambda d: d["deal_id"] == deal_id and d["version"] < version and d["state"] in states
        )

    async def of_customer(
        self, customer_id: str, organisation_id: str, email: str | None
    ) -> list[Confirmation]:
        def matches(d: Document) -> bool:
            by_address = (
                email is not None
                and d["organisation_id"] == organisation_id
                and (d.get("recipient") or "").lower() == email.strip().lower()
            )
            named = d["content"]["customer_id"] == customer_id or by_address
            return named and "erased_at" not in d

        return self._load(matches)

    async def add_new(self, drafts: Sequence[Confirmation]) -> list[int]:
        stored = []
        for i, c in enumerate(drafts):
            if c.key not in self.docs:
                self.docs[c.key] = {"_id": c.key, **c.document()}
                stored.append(i)
        return stored

    async def save(self, confirmations: Iterable[Confirmation]) -> None:
        for c in confirmations:
            update = update_of(c)
            doc = self.docs[c.key]
            doc.update(update.get("$set", {}))
            for name in update.get("$unset", {}):
                doc.pop(name, None)
            saved(c)

    async def erased_customers(self, customer_ids: Iterable[str]) -> set[str]:
        return set(customer_ids) & set(self.erasures)

    async def record_erasure(
        self, customer_id: str, organisation_id: str, erased_at: datetime
    ) -> None:
        self.erasures.setdefault(
            customer_id, {"organisation_id": organisation_id, "erased_at": erased_at}
        )

    async def scrub_cached_replies(self, erased: Sequence[Confirmation]) -> None:
        self.scrubbed.extend(c.key for c in erased)

    async def stored_policies(self, organisation_ids: Iterable[str]) -> dict[str, Document]:
        return {o: self.policies[o] for o in set(organisation_ids) if o in self.policies}

    def state(self, key: str) -> ConfirmationState:
        return ConfirmationState(self.docs[key]["state"])
