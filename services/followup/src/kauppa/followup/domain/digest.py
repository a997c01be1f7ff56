"""The seller's daily digest (D15, D16): which morning it goes out, what it holds, and
its identity. Pure: ``now`` and the stored facts are arguments.

One digest per seller per business day (``kauppa.contracts.business_days``: no weekends,
no public holidays of the organisation's country), at the organisation's hour in the
seller's time zone. Its key and Message-ID are functions of (organisation, seller, day),
so a timer fired twice, a crash or a second replica can only ever mean the same email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kauppa.contracts import business_days
from kauppa.servicekit.ids import header_safe
from pydantic import BaseModel, Field

LOCALES = ("fi", "sv", "en")


@dataclass(frozen=True)
class DigestPolicy:
    """An organisation's digest setting (or the service's defaults)."""

    enabled: bool
    hour: int
    quiet_days: int
    yearly_window_days: int
    country: str
    locale: str


def digest_key(organisation_id: str, seller_id: str, day: date) -> str:
    """The timer's key and the stored digest's id."""
    return f"digest:{organisation_id}:{seller_id}:{day.isoformat()}"


def message_id(organisation_id: str, seller_id: str, day: date, domain: str) -> str:
    ids = header_safe(f"{organisation_id}.{seller_id}").replace(" ", "_")
    return f"<digest.{ids}.{day:%Y%m%d}@{header_safe(domain)}>"


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def send_at(day: date, hour: int, timezone: str) -> datetime:
    """``hour`` o'clock on ``day`` in the seller's zone, as UTC."""
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def next_digest_day(
    now: datetime,
    policy: DigestPolicy,
    timezone: str,
    after: date | None = None,
    *,
    catch_up: bool = False,
) -> date:
    """The first business day after ``after`` (if given) whose digest time is still
    ahead of ``now``: a new seller's first morning, or the one after a digest fired.
    ``catch_up``: a digest that fired days late (downtime) is followed by today's, even
    past its hour, rather than by none until tomorrow."""
    day = local_day(now, timezone)
    if (
        catch_up
        and after is not None
        and day > after
        and business_days.is_business_day(day, policy.country)
    ):
        return day
    if after is not None and after >= day:
        day = after + timedelta(days=1)
    for _ in range(400):  # a year of holidays and weekends cannot be longer than this
        if business_days.is_business_day(day, policy.country) and send_at(
            day, policy.hour, timezone
        ) > now - timedelta(seconds=1):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no business day within 400 days in {policy.country}")  # pragma: no cover


def is_stale(day: date, now: datetime, timezone: str) -> bool:
    """Fired after the seller's day ended (downtime): that morning's list is history."""
    return local_day(now, timezone) > day


# ---------------------------------------------------------------------------- content


class DueContact(BaseModel):
    contact_id: str
    customer_id: str
    company: str | None = None
    kind: str
    due_at: datetime
    overdue: bool = Field(description="Reminded (ContactDue) and not logged yet, or past due")


class YearlyContact(BaseModel):
    customer_id: str
    company: str | None = None
    deadline: datetime = Field(description="D16: a contact at least once a year, by then")


class OpenProblems(BaseModel):
    customer_id: str
    company: str | None = None
    problems: list[str]


class WaitingLead(BaseModel):
    lead_id: str
    source: str | None = None
    product_interest: list[str] = Field(default_factory=list)
    assigned_at: datetime
    respond_by: datetime


class QuietCustomer(BaseModel):
    customer_id: str
    company: str | None = None
    last_contact_at: datetime | None
    days: int | None


class Section(BaseModel):
    """A section's first items and how many there are in all."""

    items: list[dict[str, Any]] = Field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return max(self.total - len(self.items), 0)


class DigestContent(BaseModel):
    organisation_id: str
    seller_id: str
    seller_name: str | None = None
    day: date
    locale: str
    quiet_days: int
    yearly_window_days: int
    contacts: Section
    yearly: Section
    problems: Section
    leads: Section
    quiet: Section

    def record(self) -> dict[str, Any]:
        """What the stored digest keeps of what it said: ids and totals only, no names
        or problem texts (nothing for an erasure to reach)."""

        def ids(section: Section, key: str) -> dict[str, Any]:
            return {"ids": [i[key] for i in section.items], "total": section.total}

        return {
            "contacts": {
                **ids(self.contacts, "contact_id"),
                "overdue": [i["contact_id"] for i in self.contacts.items if i["overdue"]],
            },
            "yearly": ids(self.yearly, "customer_id"),
            "problems": ids(self.problems, "customer_id"),
            "leads": ids(self.leads, "lead_id"),
            "quiet": ids(self.quiet, "customer_id"),
            "locale": self.locale,
        }

    def is_empty(self) -> bool:
        return not any(s.total for s in self.sections())

    def sections(self) -> tuple[Section, ...]:
        return (self.contacts, self.yearly, self.problems, self.leads, self.quiet)


def quiet_days_of(last_contact_at: datetime | None, now: datetime) -> int | None:
    return None if last_contact_at is None else max((now - last_contact_at).days, 0)


def pick_locale(*candidates: str | None) -> str:
    """The first of fi/sv/en among the seller's own choice and the organisation's."""
    for c in candidates:
        if c and c.split("-")[0].lower() in LOCALES:
            return c.split("-")[0].lower()
    return "en"
