"""The followup service's settings (env prefix ``FOLLOWUP_``)."""

from __future__ import annotations

from kauppa.servicekit.mail import SmtpSettings
from kauppa.servicekit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class FollowupSettings(ServiceSettings, SmtpSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore")

    service_name: str = "followup"
    http_port: int = 8104

    # D13: the feedback call, N business days after delivery, at this local hour.
    feedback_call_business_days: int = Field(3, ge=0)
    holiday_country: str = "FI"
    contact_hour: int = Field(9, ge=0, le=23)
    default_timezone: str = "Europe/Helsinki"
    # D14: relationships at least this old may hear an offer along with a fix.
    long_relationship_years: int = Field(5, ge=0)
    # D15/D16: the default next contact when the seller gives none; never later than
    # ``max_months_between_contacts`` after the last contact.
    default_next_contact_days: int = Field(180, ge=1)
    max_months_between_contacts: int = Field(12, ge=1, le=12)
    # After a reminder fires and nobody logs the contact, remind again after this long.
    reminder_repeat_days: int = Field(14, ge=1)
    # The invariant audit (D15/D16).
    audit_interval_minutes: float = Field(60.0, gt=0)
    audit_stuck_grace_minutes: float = Field(60.0, gt=0)
    audit_repair_limit: int = Field(10_000, ge=1)
    # D17 campaigns: customers per step and the pause between steps (the throttle).
    campaign_step_size: int = Field(1_000, ge=1)
    campaign_step_interval_seconds: float = Field(1.0, ge=0)

    # The seller's daily digest (D15, D16): the defaults of an organisation that set none
    # (``PUT /organisations/{id}/digest``), and the mail it goes out through.
    digest_enabled: bool = True
    digest_hour: int = Field(7, ge=0, le=23)  # local hour in the seller's time zone
    digest_quiet_days: int = Field(30, ge=1, le=3650)  # "no contact for N days"
    digest_yearly_window_days: int = Field(30, ge=1, le=365)
    digest_locale: str = "fi"  # fi, sv or en; a seller may choose their own
    digest_max_items: int = Field(50, ge=1, le=1000)  # per section; the rest are counted
    digest_retry_seconds: float = Field(300.0, gt=0)  # after a 4xx or no answer, doubling
    digest_max_attempts: int = Field(5, ge=1)
    digest_lease_seconds: float = Field(120.0, gt=0)  # one replica sends; the other waits
