"""The dashboard's settings (env prefix ``DASHBOARD_``)."""

from __future__ import annotations

from kauppa.servicekit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

DEFAULT_SERVICE_URLS = {
    "handoff": "http://127.0.0.1:8101",
    "closing": "http://127.0.0.1:8102",
    "confirmation": "http://127.0.0.1:8103",
    "followup": "http://127.0.0.1:8104",
    "webhooks": "http://127.0.0.1:8105",
}


class DashboardSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")

    service_name: str = "dashboard"
    http_port: int = 8100

    # Where each service answers /health/ready and /metrics (JSON in the env var:
    # DASHBOARD_SERVICE_URLS='{"handoff": "http://10.0.0.5:8101"}').
    service_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SERVICE_URLS))
    scrape_timeout_seconds: float = Field(1.5, gt=0)
    scrape_cache_seconds: float = Field(1.5, ge=0)
    what_if_timeout_seconds: float = Field(
        120.0, gt=0, description="How long a routing what-if may take at handoff"
    )

    # Read-model thresholds.
    stale_deal_days: int = Field(14, ge=1, description="A deal without contact this long")
    contact_overdue_after_hours: float = Field(
        24.0, ge=0, description="A due contact not logged this long after due_at is overdue"
    )
    next_contact_grace_minutes: float = Field(
        10.0, ge=0, description="A new customer may lack a next contact this long (in flight)"
    )
    display_timezone: str = "Europe/Helsinki"
    poll_interval_ms: int = Field(2000, ge=250)
