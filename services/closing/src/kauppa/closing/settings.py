"""The closing service's settings (env prefix ``CLOSING_``). The buying-path defaults
here apply to every organisation that has not stored its own (ops API)."""

from __future__ import annotations

from typing import Annotated

from kauppa.closing.domain.pricing import BundleKind, BundleRule
from kauppa.closing.domain.sales_process import SalesProcess
from kauppa.contracts.bounds import ID_MAX, MAX_ITEMS, SHORT_TEXT_MAX, TEXT_MAX, PositivePercent
from kauppa.servicekit.settings import ServiceSettings
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict


class BundleRuleConfig(BaseModel):
    rule_id: str = Field(min_length=1, max_length=ID_MAX)
    kind: BundleKind
    percent_off: PositivePercent
    products: list[Annotated[str, Field(max_length=SHORT_TEXT_MAX)]] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Empty: every product"
    )
    description: str = Field("", max_length=TEXT_MAX)

    def to_domain(self) -> BundleRule:
        return BundleRule(
            rule_id=self.rule_id,
            kind=self.kind,
            percent_off=self.percent_off,
            products=tuple(self.products),
            description=self.description,
        )


class SalesProcessConfig(BaseModel):
    """One organisation's stages, stale-deal windows and bundle prices."""

    stages: list[Annotated[str, Field(max_length=SHORT_TEXT_MAX)]] = Field(
        default_factory=lambda: ["qualified", "meeting", "offer", "negotiation", "closing"],
        min_length=1,
        max_length=MAX_ITEMS,
    )
    stale_after_days: int = Field(14, ge=1)
    stale_after_days_by_stage: dict[str, int] = Field(default_factory=dict, max_length=MAX_ITEMS)
    bundle_rules: list[BundleRuleConfig] = Field(default_factory=list, max_length=MAX_ITEMS)

    def to_domain(self) -> SalesProcess:
        return SalesProcess(
            stages=tuple(self.stages),
            stale_after_days=self.stale_after_days,
            stale_after_days_by_stage=dict(self.stale_after_days_by_stage),
            bundle_rules=tuple(r.to_domain() for r in self.bundle_rules),
        )


class ClosingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLOSING_", extra="ignore")

    service_name: str = "closing"
    http_port: int = 8102
    # Defaults for organisations without their own config (JSON in the env vars).
    stages: list[str] = Field(
        default_factory=lambda: ["qualified", "meeting", "offer", "negotiation", "closing"]
    )
    stale_after_days: int = 14
    stale_after_days_by_stage: dict[str, int] = Field(default_factory=dict)
    bundle_rules: list[BundleRuleConfig] = Field(default_factory=list)

    def default_process(self) -> SalesProcessConfig:
        return SalesProcessConfig(
            stages=self.stages,
            stale_after_days=self.stale_after_days,
            stale_after_days_by_stage=self.stale_after_days_by_stage,
            bundle_rules=self.bundle_rules,
        )
