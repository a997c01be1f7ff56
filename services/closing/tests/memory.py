"""In-memory stand-ins for closing's repositories (``FakeUnitOfWork`` tests): the
methods of ``repository.Deals`` and ``repository.Directory`` the handlers and commands
under test use, over dicts."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from kauppa.closing.domain.deal import Deal
from kauppa.closing.settings import SalesProcessConfig
from kauppa.contracts import Envelope, SellerCard
from kauppa.servicekit.repository import Document


class InMemoryDeals:
    def __init__(self, *deals: Deal) -> None:
        self.deals: dict[str, Deal] = {d.deal_id: copy.deepcopy(d) for d in deals}
        self.history: dict[str, list[str]] = {d.deal_id: [] for d in deals}
        self.tombstones: set[tuple[str, str]] = set()

    async def get(self, deal_id: str) -> Deal | None:
        deal = self.deals.get(deal_id)
        return copy.deepcopy(deal) if deal else None

    async def open_ones(self, deal_ids: Sequence[str]) -> dict[str, Deal]:
        return {
            i: copy.deepcopy(d)
            for i in deal_ids
            if (d := self.deals.get(i)) is not None and d.status == "open"
        }

    async def known(self, deal_ids: Sequence[str]) -> set[str]:
        return set(deal_ids) & set(self.deals)

    async def add(self, opened: Sequence[tuple[Deal, Document]]) -> None:
        for deal, line in opened:
            assert deal.deal_id not in self.deals, "a duplicate key"
            self.deals[deal.deal_id] = copy.deepcopy(deal)
            self.history[deal.deal_id] = [line["type"]]

    async def save(self, deal: Deal, envelopes: Sequence[Envelope]) -> None:
        await self.save_all([(deal, envelopes)])

    async def save_all(self, saves: Sequence[tuple[Deal, Sequence[Envelope]]]) -> None:
        for deal, envelopes in saves:
            self.deals[deal.deal_id] = copy.deepcopy(deal)
            self.history[deal.deal_id] += [e.event.type_name for e in envelopes]
            deal.changed.clear()

    async def tombstoned(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        return set(keys) & self.tombstones


class InMemoryDirectory:
    def __init__(
        self,
        cards: dict[tuple[str, str], SellerCard] | None = None,
        processes: dict[str, SalesProcessConfig] | None = None,
    ) -> None:
        self.cards = dict(cards or {})
        self.configs = dict(processes or {})

    async def processes(
        self, organisation_ids: Iterable[str], default: SalesProcessConfig
    ) -> dict[str, SalesProcessConfig]:
        return {org: self.configs.get(org, default) for org in set(organisation_ids)}

    async def seller_card(self, organisation_id: str, seller_id: str) -> SellerCard | None:
        return self.cards.get((organisation_id, seller_id))
