"""D11: when the written confirmation goes out, per organisation.

- ``immediate``: as soon as the deal is closed;
- ``next_business_morning``: 08:00 in the seller's time zone on the next business day,
  skipping weekends and the country's public holidays (the ``holidays`` package);
- ``seller_review``: only after the seller approves the draft (D12.1).

Also per organisation: how the seller gets a copy (``bcc`` on the customer's mail, a
``separate`` mail once the customer's is recorded, or ``none``) and from which https
hosts the signed order may be fetched and attached (``signed_copy_hosts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from kauppa.contracts.business_days import is_business_day
from kauppa.contracts.events.confirmations import SendPolicy
from kauppa.servicekit.ids import allowed_url


class SellerCopy(StrEnum):
    """How the seller gets a copy of the confirmation (D12)."""

    BCC = "bcc"  # a blind copy on the customer's mail (same message, same Message-ID)
    SEPARATE = "separate"  # its own mail after the customer's send is recorded
    NONE = "none"


@dataclass(frozen=True)
class OrganisationPolicy:
    """How one organisation wants its confirmations sent."""

    policy: SendPolicy = SendPolicy.NEXT_BUSINESS_MORNING
    country: str | None = None  # the seller organisation's country for the holiday calendar
    morning_hour: int = 8
    seller_copy: SellerCopy = SellerCopy.SEPARATE
    # Hosts (``host`` or ``host:port``, lower case) a signed order may be fetched from.
    signed_copy_hosts: tuple[str, ...] = ()

    @classmethod
    def from_mapping(
        cls,
        raw: dict[str, Any],
        *,
        default_hour: int = 8,
        default_seller_copy: SellerCopy = SellerCopy.SEPARATE,
    ) -> OrganisationPolicy:
        return cls(
            policy=SendPolicy(raw.get("policy", SendPolicy.NEXT_BUSINESS_MORNING)),
            country=raw.get("country"),
            morning_hour=int(raw.get("morning_hour", default_hour)),
            seller_copy=SellerCopy(raw.get("seller_copy") or default_seller_copy),
            signed_copy_hosts=tuple(h.lower() for h in raw.get("signed_copy_hosts") or ()),
        )

    def as_mapping(self) -> dict[str, Any]:
        return {
            "policy": self.policy.value,
            "country": self.country,
            "morning_hour": self.morning_hour,
            "seller_copy": self.seller_copy.value,
            "signed_copy_hosts": list(self.signed_copy_hosts),
        }

    def may_fetch(self, url: str | None, *, allow_http: bool = False) -> bool:
        """A signed-order URL this organisation allows fetching: https (http only in the
        local profile), no user info, its host (or host:port) on the allow-list."""
        if not url or not self.signed_copy_hosts or not allowed_url(url, allow_http=allow_http):
            return False
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return False
        if parts.username is not None or parts.password is not None or not parts.hostname:
            return False
        host = parts.hostname.lower()
        netloc = f"{host}:{port}" if port is not None else host
        return host in self.signed_copy_hosts or netloc in self.signed_copy_hosts


@dataclass(frozen=True)
class SendDecision:
    policy: SendPolicy
    send_at: datetime | None  # None: waits for the seller's approval
    requires_approval: bool


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
