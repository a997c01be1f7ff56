"""The handoff service's settings (env prefix ``HANDOFF_``)."""

from __future__ import annotations

from kauppa.handoff.domain.sla import BusinessCalendar, SlaPolicy
from kauppa.servicekit.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class HandoffSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_", extra="ignore")

    service_name: str = "handoff"
    http_port: int = 8101

    # SLA (D3: every lead gets a verdict): a reminder at X hours, reassignment at Y hours.
    reminder_after_hours: float = Field(4.0, gt=0)
    reassign_after_hours: float = Field(8.0, gt=0)
    # Count SLA hours only inside business hours (working days, local office time).
    business_hours_only: bool = True
    business_day_start_hour: int = Field(8, ge=0, le=23)
    business_day_end_hour: int = Field(16, ge=1, le=24)
    business_timezone: str = "Europe/Helsinki"
    holiday_country: str = "FI"

    def sla_policy(self) -> SlaPolicy:
        calendar = (
            BusinessCalendar(
                timezone=self.business_timezone,
                day_start_hour=self.business_day_start_hour,
                day_end_hour=self.business_day_end_hour,
                country=self.holiday_country,
            )
            if self.business_hours_only
            else None
        )
        return SlaPolicy(self.reminder_after_hours, self.reassign_after_hours, calendar)
