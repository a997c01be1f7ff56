"""The confirmation service's settings (env prefix ``CONFIRMATION_``)."""

from __future__ import annotations

from typing import Any

from kauppa.servicekit.mail import SmtpSettings
from kauppa.servicekit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class ConfirmationSettings(ServiceSettings, SmtpSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIRMATION_", extra="ignore")

    service_name: str = "confirmation"
    http_port: int = 8103

    # When to send (D11): the default and per-organisation policies, e.g.
    # CONFIRMATION_POLICIES='{"org-a": {"policy": "immediate"},
    #                         "org-b": {"policy": "next_business_morning", "country": "SE"}}'
    default_policy: str = "next_business_morning"
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    default_country: str = "FI"
    business_morning_hour: int = 8
    # The seller's copy (D12): "separate" (its own mail once the customer's send is
    # recorded), "bcc" (on the customer's mail) or "none"; per organisation in POLICIES
    # ("seller_copy") or through PUT /policies. Also per organisation there:
    # "signed_copy_hosts", the https hosts a signed order may be fetched from.
    default_seller_copy: str = "separate"

    # Templates: <template_dir>/<organisation_id>/confirmation.{html,txt}.j2 override the
    # built-in ones for that organisation.
    template_dir: str | None = None

    # Fetching the signed order to attach it (httpx): https only (http too in the local
    # profile), no redirects, application/pdf starting with %PDF, at most this many bytes.
    signed_copy_max_bytes: int = 5 * 1024 * 1024
    signed_copy_timeout_seconds: float = 10.0
    signed_copy_ca_file: str | None = None  # extra CA bundle (PEM) to trust, e.g. an internal CA

    # The sender
    sender_batch: int = 200
    sender_poll_seconds: float = 0.2
    sender_lease_seconds: float = 120.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 8
    run_sender: bool = True
