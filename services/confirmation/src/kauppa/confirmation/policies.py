"""Per-organisation send policies: the ops API's stored choice wins over settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kauppa.confirmation.domain.send_policy import OrganisationPolicy, SellerCopy
from kauppa.confirmation.repository import POLICIES
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts.events.confirmations import SendPolicy
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


class PolicyBook:
    def __init__(self, settings: ConfirmationSettings) -> None:
        hour = settings.business_morning_hour
        copy = SellerCopy(settings.default_seller_copy)
        self.default = OrganisationPolicy(
            policy=SendPolicy(settings.default_policy), morning_hour=hour, seller_copy=copy
        )
        self.configured = {
            org: OrganisationPolicy.from_mapping(raw, default_hour=hour, default_seller_copy=copy)
            for org, raw in settings.policies.items()
        }
        self.default_hour = hour
        self.default_seller_copy = copy

    def from_settings(self, organisation_id: str) -> OrganisationPolicy:
        return self.configured.get(organisation_id, self.default)

    async def for_organisations(
        self,
        db: AsyncDatabase[Document],
        organisation_ids: Iterable[str],
        session: AsyncClientSession | None = None,
    ) -> dict[str, OrganisationPolicy]:
        """One query for a whole batch."""
        orgs = set(organisation_ids)
        stored = {
            d["_id"]: OrganisationPolicy.from_mapping(
                d, default_hour=self.default_hour, default_seller_copy=self.default_seller_copy
            )
            async for d in db[POLICIES].find({"_id": {"$in": list(orgs)}}, session=session)
        }
        return {org: stored.get(org) or self.from_settings(org) for org in orgs}
