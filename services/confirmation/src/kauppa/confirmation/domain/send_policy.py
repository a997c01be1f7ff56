"""D11: when the written confirmation goes out, per organisation.

- ``immediate``: as soon as the deal is closed;
- ``next_business_morning``: 08:00 in the seller's time zone on the next business day,
  skipping weekends and the country's public holidays (the ``holidays`` package);
- ``seller_review``: only after the seller approves the draft (D12.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from kauppa.contracts.events.confirmations import SendPolicy


@dataclass(frozen=True)
class OrganisationPolicy:
    """How one organisation wants its confirmations sent."""

    policy: SendPolicy = SendPolicy.NEXT_BUSINESS_MORNING
    country: str | None = None  # the seller organisation's country for the holiday calendar
    morning_hour: int = 8

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], *, default_hour: int = 8) -> OrganisationPolicy:
        return cls(
            policy=SendPolicy(raw.get("policy", SendPolicy.NEXT_BUSINESS_MORNING)),
            country=raw.get("country"),
            morning_hour=int(raw.get("morning_hour", default_hour)),
        )

    def as_mapping(self) -> dict[str, Any]:
        return {
            "policy": self.policy.value,
            "country": self.country,
            "morning_hour": self.morning_hour,
        }


@dataclass(frozen=True)
class SendDecision:
    policy: SendPolicy
    send_at: datetime | None  # None: waits for the seller's approval
    requires_approval: bool


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def warm(country: str, year: int) -> None:
    """Load the country's holidays for ``year`` now: the first table in a process loads
    the holiday rules of every country (~0.3 s), better at start-up than inside the
    first batch."""
    _calendar(country, year)


def is_business_day(day: date, country: str) -> bool:
    """Monday to Friday and not a public holiday of ``country``."""
    return day.weekday() < 5 and day not in _calendar(country, day.year)


def next_business_morning(after: datetime, timezone: str, country: str, hour: int = 8) -> datetime:
    """The first ``hour``:00 local time strictly after ``after`` that falls on a business
    day of ``country``, returned in UTC. Friday afternoon gives Monday morning."""
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    day = local.date()
    while True:
        candidate = datetime.combine(day, time(hour), tzinfo=zone)
        if candidate > local and is_business_day(day, country):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


def decide_send_time(
    policy: OrganisationPolicy,
    *,
    agreed_at: datetime,
    now: datetime,
    seller_timezone: str,
    country: str,
) -> SendDecision:
    """When this confirmation goes out. ``agreed_at`` is when the deal was closed (or
    amended): a backlog processed on Tuesday still counts from Friday's close, and a send
    time already past means "now"."""
    if policy.policy is SendPolicy.IMMEDIATE:
        return SendDecision(policy.policy, now, requires_approval=False)
    if policy.policy is SendPolicy.SELLER_REVIEW:
        return SendDecision(policy.policy, None, requires_approval=True)
    at = next_business_morning(
        agreed_at, seller_timezone, policy.country or country, policy.morning_hour
    )
    return SendDecision(policy.policy, max(at, now), requires_approval=False)
