"""The webhooks service's settings (env prefix ``WEBHOOKS_``)."""

from __future__ import annotations

from kauppa.servicekit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore")

    service_name: str = "webhooks"
    http_port: int = 8105

    # Delivery
    request_timeout_seconds: float = Field(10.0, gt=0)
    # Deliveries in flight per subscription (distinct keys; one key is strictly in order)
    # and in all: a slow receiver uses up only its own share.
    per_subscription_in_flight: int = Field(8, ge=1)
    max_in_flight: int = Field(256, ge=1)
    poll_seconds: float = Field(0.2, gt=0)
    # How long a claimed delivery is held; after a crash it is sent again (same
    # webhook-id) once this ends. Default: three request timeouts plus 5 s.
    claim_lease_seconds: float | None = Field(None, gt=0)
    # Backoff with jitter: base, doubling, at most max; Retry-After honoured up to its cap.
    retry_base_seconds: float = Field(5.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    retry_after_max_seconds: float = Field(6 * 3600.0, gt=0)
    # A subscription failing without a single success this long is disabled (its
    # deliveries wait; ops activate it again). Retries go on until then: >= 24 h.
    disable_after_hours: float = Field(36.0, gt=0)
    # The default overlap of the old and the new secret after a rotation.
    rotation_overlap_hours: float = Field(24.0, ge=0)
    # Keep delivered deliveries and attempts this long (a TTL index).
    retention_days: int = Field(14, ge=1)
    run_sender: bool = True

    @property
    def local(self) -> bool:
        """The local profile allows http and loopback/private targets."""
        return self.kafka.profile == "local"
