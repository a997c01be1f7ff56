"""Per-organisation send policies: the ops API's stored choice wins over settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kauppa.confirmation.domain.send_policy import OrganisationPolicy, SellerCopy
from kauppa.confirmation.repository import Document
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts.events.confirmations import SendPolicy


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

    def resolve(
        self, stored: Mapping[str, Document], organisation_ids: Iterable[str]
    ) -> dict[str, OrganisationPolicy]:
        """Each organisation's policy: its stored one (``stored``, read by the repository
        for a whole batch), else the settings' one."""
        resolved = {
            org: OrganisationPolicy.from_mapping(
                d, default_hour=self.default_hour, default_seller_copy=self.default_seller_copy
            )
            for org, d in stored.items()
        }
        return {org: resolved.get(org) or self.from_settings(org) for org in set(organisation_ids)}
