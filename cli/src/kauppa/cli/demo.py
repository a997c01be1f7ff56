"""`kauppa demo`: a realistic scenario played against a running `kauppa run`, through the
public interfaces only.

Upstream systems, the ERP, the CRM and some sellers' tools send contract events to Kafka;
ops and sellers call the services' HTTP APIs. The demo reads the topics (like any other
consumer) to know when the flow has moved on, and stamps its events with the services'
business clock (the same accelerated clock `kauppa run` gives the services).

The story: two sales organisations set up their sellers, seller cards, bundle prices and
confirmation policies; a few hundred leads arrive from three sources of clearly different
quality (a good inside-sales team, an average marketing automation, a poor outsourced
partner); sellers accept or return them with reasons; deals get contacts, offers, upsell
lines and referrals and are closed with signature evidence or lost; the written
confirmations go out; the ERP reports deliveries; sellers make the feedback calls (some
find problems, which are then fixed) and set next contacts; and one external event (a law
change) starts a segment campaign for manufacturing customers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer, ConsumerRecord
from kauppa.cli.webhook_receiver import WebhookReceiver, subscribe_receiver, until_delivered
from kauppa.contracts import (
    ContactPerson,
    CriterionEvidence,
    CustomerAttributes,
    CustomerClassificationSubmitted,
    DecodeError,
    DeliveredItem,
    DeliveryCompleted,
    Envelope,
    LeadQualified,
    LeadSource,
    LeadVerdictSubmitted,
    Prospect,
    QualificationCriteria,
    ReturnReason,
    Verdict,
    envelope,
    event_class,
    event_class_by_name,
    from_kafka,
    to_kafka,
)
from kauppa.contracts.cloudevents import header_map
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.clock import Clock, clock_from_settings
from kauppa.servicekit.settings import ClockSettings, ServiceSettings
from kauppa.servicekit.tail import TopicTail
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

SOURCE_SYSTEM = "kauppa-demo"


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


# ----------------------------------------------------------------------------- the cast


@dataclass(frozen=True)
class Org:
    org_id: str
    company: str
    domain: str
    policy: str  # confirmation send policy (D11)
    bundle_rules: tuple[dict[str, Any], ...]


ORGS = (
    Org(
        "org-pohjola",
        "Pohjolan Ohjelmistot Oy",
        "pohjola.example",
        "next_business_morning",
        (
            {
                "rule_id": "second-licence-10",
                "kind": "second_unit",
                "percent_off": "10",
                "products": ["CRM-PRO", "ERP-BASIC"],
                "description": "Second licence and more: 10 % off",
            },
            {
                "rule_id": "training-with-licence-15",
                "kind": "upsell_bundle",
                "percent_off": "15",
                "products": ["TRAIN-1D", "SUPPORT-PLUS"],
                "description": "Training or support ordered with the licences: 15 % off",
            },
        ),
    ),
    Org(
        "org-saaristo",
        "Saariston Data Ab",
        "saaristo.example",
        "immediate",
        (
            {
                "rule_id": "bundle-10",
                "kind": "upsell_bundle",
                "percent_off": "10",
                "products": [],
                "description": "Bundle price: 10 % off what is added at closing",
            },
        ),
    ),
)


@dataclass(frozen=True)
class SellerProfile:
    seller_id: str
    org_id: str
    name: str
    title: str
    phone: str
    languages: tuple[str, ...]
    products: tuple[str, ...]
    capacity: int
    team: str


SELLERS = (
    SellerProfile(
        "s-aino",
        "org-pohjola",
        "Aino Lahtinen",
        "Account Manager",
        "+358 40 111 2001",
        ("fi",),
        ("crm", "erp"),
        30,
        "south",
    ),
    SellerProfile(
        "s-ville",
        "org-pohjola",
        "Ville Koski",
        "Sales Manager",
        "+358 40 111 2002",
        ("fi", "en"),
        ("crm", "erp"),
        30,
        "south",
    ),
    SellerProfile(
        "s-helmi",
        "org-pohjola",
        "Helmi Saarinen",
        "Key Account Manager",
        "+358 40 111 2003",
        ("fi", "sv", "en"),
        ("crm", "erp"),
        30,
        "west",
    ),
    SellerProfile(
        "s-oskari",
        "org-pohjola",
        "Oskari Rantanen",
        "Account Manager",
        "+358 40 111 2004",
        ("fi",),
        ("crm",),
        20,
        "north",
    ),
    SellerProfile(
        "s-elsa",
        "org-saaristo",
        "Elsa Lindqvist",
        "Försäljningschef",
        "+358 40 222 3001",
        ("sv", "fi", "en"),
        ("crm", "erp"),
        30,
        "coast",
    ),
    SellerProfile(
        "s-johan",
        "org-saaristo",
        "Johan Berg",
        "Account Manager",
        "+358 40 222 3002",
        ("sv", "fi", "en"),
        ("crm", "erp"),
        30,
        "coast",
    ),
)


@dataclass(frozen=True)
class Product:
    code: str
    description: str
    price: Decimal
    line: str  # product line for routing


PRODUCTS = {
    "CRM-PRO": Product("CRM-PRO", "CRM Pro, annual licence", Decimal("1200.00"), "crm"),
    "ERP-BASIC": Product("ERP-BASIC", "ERP Basic, annual licence", Decimal("2400.00"), "erp"),
    "TRAIN-1D": Product("TRAIN-1D", "Training day on site", Decimal("900.00"), "crm"),
    "SUPPORT-PLUS": Product("SUPPORT-PLUS", "Support Plus, 12 months", Decimal("600.00"), "crm"),
}


@dataclass(frozen=True)
class SourceProfile:
    """How good a lead source is: the honest numbers the dashboard should show (D2-D4)."""

    key: str
    label: str
    system: str
    partner: str | None
    campaigns: tuple[str, ...]
    bookers: tuple[str, ...]
    share: float
    criteria_met: float  # share of leads whose discovery really established D1
    accept: float  # share of assigned leads the sellers accept
    close: float  # share of deals that close
    returns: tuple[tuple[str, float], ...]
    duplicate: float = 0.0
    bad_data: float = 0.0


SOURCES = (
    SourceProfile(
        "inside",
        "inside-sales team (good)",
        "inside-sales",
        None,
        ("key-accounts-q1", "renewals-q1"),
        ("booker-anna", "booker-mikko"),
        0.30,
        0.95,
        0.90,
        0.70,
        (("not_ready_now", 0.6), ("other", 0.4)),
    ),
    SourceProfile(
        "marketing",
        "marketing automation (average)",
        "marketing-automation",
        None,
        ("webinar-erp-2026", "whitepaper-crm"),
        ("nurture-bot",),
        0.40,
        0.78,
        0.65,
        0.45,
        (("not_ready_now", 0.4), ("not_interested", 0.3), ("no_budget", 0.2), ("other", 0.1)),
    ),
    SourceProfile(
        "partner",
        "outsourced partner (poor)",
        "partner-portal",
        "Soittopalvelu Oy",
        ("cold-list-manufacturing", "cold-list-retail"),
        ("agent-17", "agent-23", "agent-42"),
        0.30,
        0.45,
        0.35,
        0.25,
        (
            ("not_interested", 0.4),
            ("no_budget", 0.2),
            ("wrong_contact", 0.2),
            ("no_authority", 0.1),
            ("other", 0.1),
        ),
        duplicate=0.05,
        bad_data=0.04,
    ),
)

INDUSTRIES = ("manufacturing", "manufacturing", "retail", "logistics", "construction", "healthcare")
REGIONS = ("Uusimaa", "Pirkanmaa", "Varsinais-Suomi", "Pohjois-Pohjanmaa", "Pohjanmaa")
SIZES = ("small", "medium", "large")
NAME_A = (
    "Koivu",
    "Järvi",
    "Kallio",
    "Metsä",
    "Ranta",
    "Tuuli",
    "Kivi",
    "Lumi",
    "Honka",
    "Aalto",
    "Revon",
    "Laakson",
    "Virta",
    "Pohjan",
    "Saimaan",
    "Kuusi",
)
NAME_B = (
    "tekniikka",
    "metalli",
    "logistiikka",
    "rakennus",
    "kone",
    "puu",
    "muovi",
    "data",
    "systems",
    "kauppa",
    "valimo",
    "pakkaus",
)
FIRST = (
    "Maija",
    "Matti",
    "Liisa",
    "Jukka",
    "Anna",
    "Mikko",
    "Sari",
    "Timo",
    "Eeva",
    "Pekka",
    "Kaisa",
    "Antti",
    "Riikka",
    "Janne",
)
LAST = (
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Nieminen",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
)
TITLES = ("Toimitusjohtaja", "Talousjohtaja", "IT-päällikkö", "Tuotantojohtaja", "Ostopäällikkö")
LOSS_REASONS = (
    "Chose a competitor on price",
    "Stayed with the current system (status quo)",
    "Project postponed to next year",
    "Budget frozen after all",
)
PROBLEMS = (
    "One licence key was missing from the delivery",
    "Training day not booked yet",
    "Invoice had the wrong reference",
)
RETURN_TEXT = {
    "other": "Company is being sold; no purchases now",
    "wrong_contact": "The person had left the company",
}


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


# ----------------------------------------------------------------------------- the plan


@dataclass
class LeadPlan:
    """What happens to one lead, decided up front from the seed (so a run is repeatable)."""

    lead_id: str
    source: SourceProfile
    org: Org
    event: LeadQualified
    accept: bool
    return_reason: str
    via_kafka_verdict: bool
    outcome: str  # close, lose, open
    products: list[tuple[str, int]]
    upsell: str | None
    signature: str
    referral: bool
    incomplete_first_close: bool
    contacts: int
    delivered: bool
    problem: str | None
    referral_on_call: bool
    upsell_interest: bool
    next_contact_days: int | None
    call_ahead: bool
    duplicate_of: str | None = None
    # What was observed
    status: str = "sent"  # sent, rejected, duplicate, assigned, accepted, returned
    seller_id: str | None = None
    deal_id: str | None = None
    customer_id: str | None = None
    deal_state: str = ""  # opened, closed, lost, open
    offer_ref: str | None = None


def _weighted(rng: random.Random, options: Iterable[tuple[str, float]]) -> str:
    names, weights = zip(*options, strict=True)
    return rng.choices(names, weights=weights)[0]


def make_plan(n: int, seed: int, run_id: str, now: datetime) -> list[LeadPlan]:
    rng = random.Random(seed)
    base = int(uuid.UUID(int=random.Random(run_id).getrandbits(128)).int % 9_000_000) + 1_000_000
    plans: list[LeadPlan] = []
    for i in range(n):
        src = _weighted(rng, ((s.key, s.share) for s in SOURCES))
        source = next(s for s in SOURCES if s.key == src)
        org = ORGS[0] if rng.random() < 0.7 else ORGS[1]
        lead_id = f"lead-{run_id}-{i:04d}"
        company = f"{rng.choice(NAME_A)}{rng.choice(NAME_B)} Oy"
        if org is ORGS[1] and rng.random() < 0.5:
            company = company.replace(" Oy", " Ab")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = f"{_slug(company.split()[0])}-{base + i}.example"
        locale = (
            "sv-FI" if company.endswith(" Ab") else ("en-GB" if rng.random() < 0.05 else "fi-FI")
        )
        industry = rng.choice(INDUSTRIES)
        business_id = f"{(base + i) % 10_000_000:07d}-{i % 10}"
        bad_data = rng.random() < source.bad_data
        contact = ContactPerson(
            name=f"{first} {last}",
            title=rng.choice(TITLES),
            email=None if bad_data else f"{_slug(first)}.{_slug(last)}@{domain}",
            phone=None if bad_data else f"+358 50 {rng.randint(1000000, 9999999)}",
        )
        prospect = Prospect(
            company_name=company,
            business_id=business_id,
            contact=contact,
            locale=locale,
            country="FI",
            region=rng.choice(REGIONS),
            industry=industry,
            size=rng.choice(SIZES),
        )
        met = rng.random() < source.criteria_met
        unmet: set[str] = set()
        if not met:
            unmet = set(
                rng.sample(["benefit", "ready_now", "budget", "authority"], rng.randint(1, 2))
            )
        evidence = {
            "benefit": ("Saves two hours a day in order handling", "No clear need found"),
            "ready_now": ("Wants it running this quarter", "Maybe next year"),
            "budget": ("Budget 20-40 k€ reserved", "No budget discussed"),
            "authority": ("The CEO decides and was on the call", "Decision maker unknown"),
        }
        criteria = QualificationCriteria(
            **{
                k: CriterionEvidence(met=k not in unmet, evidence=v[1] if k in unmet else v[0])
                for k, v in evidence.items()
            }
        )
        main = rng.choice(["CRM-PRO", "CRM-PRO", "ERP-BASIC"])
        products = [(main, rng.choice([1, 1, 2, 3, 5]))]
        if rng.random() < 0.2:
            other = "ERP-BASIC" if main == "CRM-PRO" else "CRM-PRO"
            products.append((other, 1))
        event = LeadQualified(
            lead_id=lead_id,
            organisation_id=org.org_id,
            source=LeadSource(
                system=source.system,
                booker=rng.choice(source.bookers),
                campaign=rng.choice(source.campaigns),
                partner=source.partner,
            ),
            prospect=prospect,
            criteria=criteria,
            product_interest=sorted({PRODUCTS[c].line for c, _ in products}),
            notes=f"{SOURCE_SYSTEM} run {run_id}",
            qualified_at=now,
        )
        outcome_roll = rng.random()
        outcome = (
            "close" if outcome_roll < source.close else ("open" if outcome_roll > 0.92 else "lose")
        )
        plan = LeadPlan(
            lead_id=lead_id,
            source=source,
            org=org,
            event=event,
            accept=rng.random() < source.accept,
            return_reason=_weighted(rng, source.returns),
            via_kafka_verdict=rng.random() < 0.25,
            outcome=outcome,
            products=products,
            upsell=rng.choice([None, "TRAIN-1D", "SUPPORT-PLUS"]),
            signature=rng.choice(["onsite_signed_form", "accepted_offer", "e_signature"]),
            referral=rng.random() < 0.3,
            incomplete_first_close=rng.random() < 0.08,
            contacts=rng.randint(1, 3),
            delivered=rng.random() < 0.9,
            problem=rng.choice(PROBLEMS) if rng.random() < 0.2 else None,
            referral_on_call=rng.random() < 0.2,
            upsell_interest=rng.random() < 0.3,
            next_contact_days=None if rng.random() < 0.2 else rng.randint(60, 200),
            call_ahead=rng.random() < 0.7,
        )
        # The poor partner re-sends prospects it already sent (same business id).
        earlier = [p for p in plans if p.source.key == "partner" and p.org is org]
        if earlier and rng.random() < source.duplicate and source.key == "partner":
            first_plan = rng.choice(earlier)
            plan.event = event.model_copy(update={"prospect": first_plan.event.prospect})
            plan.duplicate_of = first_plan.lead_id
        plans.append(plan)
    return plans


# ----------------------------------------------------------------------------- plumbing


class EventFeed(TopicTail):
    """Reads Kauppa's topics from their current end (as any consumer could) and keeps the
    events the demo waits for, indexed by type: the topics are those the wanted events are
    published to."""

    def __init__(self, bootstrap: str, wanted: set[str]) -> None:
        topics: set[str] = set()
        for name in wanted:
            cls = event_class_by_name(name)
            if cls is None:
                raise ValueError(f"{name} is not a contract event")
            topics.add(cls.topic)
        super().__init__(bootstrap, sorted(topics), fetch_max_wait_ms=20, max_records=2000)
        self.wanted = wanted
        self.by_type: dict[str, list[Any]] = defaultdict(list)
        self._seen: set[str] = set()

    async def start(self) -> Self:
        try:
            return await super().start()
        except LookupError as exc:
            raise DemoError(f"{exc}: is `kauppa run` running?") from exc

    def take(self, records: list[ConsumerRecord[Any, Any]], arrived: float) -> None:
        for m in records:
            headers = list(m.headers)
            # Decode only what we wait for (the header names the event's class).
            cls = event_class(header_map(headers).get("ce_type", ""))
            if cls is None or cls.type_name not in self.wanted:
                continue
            try:
                env: Envelope = from_kafka(headers, m.value)
            except DecodeError:
                continue
            if env.id in self._seen:
                continue  # a relayed copy of an event already seen
            self._seen.add(env.id)
            self.by_type[env.event.type_name].append(env.event)

    def events(self, type_name: str, **match: Any) -> list[Any]:
        return [
            e
            for e in self.by_type.get(type_name, [])
            if all(getattr(e, k, None) == v for k, v in match.items())
        ]


async def until(
    condition: Callable[[], bool],
    timeout: float,
    on_tick: Callable[[], None] | None = None,
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if on_tick:
            on_tick()
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


async def until_count(
    count: Callable[[], int],
    total: int,
    timeout: float,
    on_count: Callable[[int], None] | None = None,
) -> bool:
    """``until`` the items done reach ``total``: ``count`` is called once per poll and its
    result handed to ``on_count`` (a progress bar)."""
    done = 0

    def tick() -> None:
        nonlocal done
        done = count()
        if on_count:
            on_count(done)

    return await until(lambda: done >= total, timeout, tick)


RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or a service on its way up or down


async def request_riding_out_restarts(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: Any = None,
    retry_for: float = 60.0,
    first_delay: float = 0.25,
    max_delay: float = 2.0,
) -> httpx.Response:
    """One HTTP call that rides out a service restart: connection errors and 502/503/504
    are retried with backoff for up to ``retry_for`` seconds, with the same headers, so
    the same ``Idempotency-Key`` (a call that took effect before the service went away
    is answered from the first result, not done twice). A 500 is retried twice. The last
    answer is returned; a connection error still failing after ``retry_for`` is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_for
    delay, server_errors = first_delay, 0
    while True:
        try:
            r = await client.request(method, url, json=body, headers=headers)
        except httpx.TransportError:
            if loop.time() + delay > deadline:
                raise
        else:
            if r.status_code == 500 and server_errors < 2:
                server_errors += 1
            elif r.status_code not in RETRY_STATUSES or loop.time() + delay > deadline:
                return r
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


@dataclass
class Api:
    """HTTP calls as sellers' tools and ops would make them, with an Idempotency-Key so a
    retried call (a network hiccup, a service restarting) changes nothing."""

    client: httpx.AsyncClient
    urls: dict[str, str]
    parallel: asyncio.Semaphore
    tokens: dict[str, str] = field(default_factory=dict)
    retry_for: float = 60.0  # rides out a service restart
    max_delay: float = 2.0  # between retries

    def token(self, subject: str, role: str) -> str:
        key = f"{role}:{subject}"
        if key not in self.tokens:
            self.tokens[key] = issue_token(ServiceSettings(), subject, [role])
        return self.tokens[key]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        as_: tuple[str, str],
        body: Any = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token(*as_)}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        url = f"{self.urls[service]}{path}"
        async with self.parallel:
            try:
                r = await request_riding_out_restarts(
                    self.client,
                    method,
                    url,
                    headers=headers,
                    body=body,
                    retry_for=self.retry_for,
                    max_delay=self.max_delay,
                )
            except httpx.TransportError as exc:
                raise DemoError(
                    f"{service} is not reachable at {url} (for {self.retry_for:g} s): {exc}"
                ) from exc
        if r.status_code not in ok:
            raise DemoError(f"{method} {url} answered {r.status_code}: {r.text[:300]}")
        return r


def load_state(state_file: Path) -> dict[str, Any]:
    if not state_file.exists():
        raise DemoError(
            "Kauppa is not running (no state file at "
            f"{state_file}). Start it first with `make run` in another terminal."
        )
    state: dict[str, Any] = json.loads(state_file.read_text())
    if not state.get("services"):
        raise DemoError(f"{state_file} names no services: is `kauppa run` still starting?")
    return state


def clock_of(state: dict[str, Any]) -> Clock:
    c = state.get("clock", {})
    return clock_from_settings(
        ClockSettings(
            speed=float(c.get("KAUPPA_CLOCK_SPEED", 1.0)),
            start=c.get("KAUPPA_CLOCK_START"),
            epoch=float(c["KAUPPA_CLOCK_EPOCH"]) if c.get("KAUPPA_CLOCK_EPOCH") else None,
        )
    )


def _money(amount: Decimal) -> dict[str, str]:
    return {"amount": str(amount), "currency": "EUR"}


# ----------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    state: dict[str, Any]
    leads: int
    seed: int
    console: Console
    followup_wait: float = 45.0
    timeout: float = 180.0
    digest_wait: float = 300.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.clock = clock_of(self.state)
        self.speed = float(self.state.get("clock", {}).get("KAUPPA_CLOCK_SPEED", 1.0))
        self.bootstrap: str = self.state["kafka_bootstrap_servers"]
        self.urls: dict[str, str] = self.state["services"]
        self.plans: list[LeadPlan] = []
        self.producer: AIOKafkaProducer | None = None
        self.feed: EventFeed | None = None
        self.api: Api | None = None
        self.hooks: WebhookReceiver | None = None  # a lead source's system hearing back (D3)

    # -------------------------------------------------------------- helpers

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description:<50}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )

    async def publish(self, events: list[Any], source: str) -> None:
        assert self.producer is not None
        futures = []
        for event in events:
            topic, key, value, headers = to_kafka(envelope(event, source=source))
            futures.append(await self.producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)

    def ev(self, type_name: str, **match: Any) -> list[Any]:
        assert self.feed is not None
        return self.feed.events(type_name, **match)

    async def gather_bounded(self, work: list[Awaitable[None]], bar: Any, prog: Progress) -> None:
        async def one(w: Awaitable[None]) -> None:
            await w
            prog.advance(bar)

        await asyncio.gather(*(one(w) for w in work))

    def vdate(self, days: int = 0) -> date:
        return (self.clock.now() + timedelta(days=days)).date()

    # -------------------------------------------------------------- run

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.preflight()
        self.feed = EventFeed(
            self.bootstrap,
            {
                "LeadAssigned",
                "LeadRejected",
                "LeadLinkedAsDuplicate",
                "LeadAccepted",
                "LeadReturned",
                "DealOpened",
                "DealClosed",
                "DealLost",
                "ConfirmationScheduled",
                "ConfirmationSent",
                "ConfirmationFailed",
                "ContactDue",
                "NextContactScheduled",
                "ProblemReported",
                "ProblemResolved",
                "FeedbackCallCompleted",
                "SegmentCampaignStarted",
                "SegmentCampaignCompleted",
            },
        )
        await self.feed.start()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=False, linger_ms=5, acks="all"
        )
        await self.producer.start()
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        try:
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                self.api = Api(client, self.urls, asyncio.Semaphore(8))
                self.plans = make_plan(self.leads, self.seed, self.run_id, self.clock.now())
                self.console.print(
                    f"Demo run [bold]{self.run_id}[/] (seed {self.seed}): {len(self.plans)} "
                    f"leads; business clock {self.clock.now():%a %Y-%m-%d %H:%M} UTC, "
                    f"{self.speed:g}x real time."
                )
                await self.setup_ops()
                partner = next(s for s in SOURCES if s.key == "partner")
                self.hooks = await subscribe_receiver(
                    self.api, ORGS[0].org_id, partner.system, partner.partner
                )
                await self.send_leads()
                await self.give_verdicts()
                await self.work_deals()
                await self.confirmations()
                await self.deliveries()
                await self.feedback_calls()
                await self.campaign()
                summary = await self.summary(time.monotonic() - started)
        finally:
            await self.producer.stop()
            await self.feed.stop()
            if self.hooks is not None:
                await self.hooks.stop()
        return summary

    async def preflight(self) -> None:
        async with httpx.AsyncClient(timeout=3) as client:
            for name in ("handoff", "closing", "confirmation", "followup"):
                url = self.urls.get(name)
                if url is None:
                    raise DemoError(f"the running system has no {name} service")
                try:
                    r = await client.get(f"{url}/health/ready")
                except httpx.HTTPError as exc:
                    raise DemoError(
                        f"{name} does not answer at {url} ({type(exc).__name__}). Is "
                        "`make run` running? Start it in another terminal first."
                    ) from exc
                if r.status_code != 200:
                    raise DemoError(f"{name} is not ready: {r.text[:200]}")

    # -------------------------------------------------------------- 1. ops

    async def setup_ops(self) -> None:
        api = self.api
        assert api is not None
        ops = ("ops-demo", "ops")
        with self.progress() as prog:
            work: list[Awaitable[Any]] = []
            for org in ORGS:
                work.append(
                    api.call(
                        "closing",
                        "PUT",
                        f"/organisations/{org.org_id}/sales-process",
                        as_=ops,
                        body={
                            "stages": ["qualified", "meeting", "offer", "negotiation", "closing"],
                            "stale_after_days": 14,
                            "stale_after_days_by_stage": {"negotiation": 7},
                            "bundle_rules": list(org.bundle_rules),
                        },
                    )
                )
                work.append(
                    api.call(
                        "confirmation",
                        "PUT",
                        f"/policies/{org.org_id}",
                        as_=ops,
                        body={"policy": org.policy, "country": "FI", "morning_hour": 8},
                    )
                )
            for s in SELLERS:
                org = next(o for o in ORGS if o.org_id == s.org_id)
                work.append(
                    api.call(
                        "handoff",
                        "PUT",
                        f"/sellers/{s.seller_id}",
                        as_=ops,
                        body={
                            "organisation_id": s.org_id,
                            "name": s.name,
                            "team": s.team,
                            "regions": [],
                            "products": list(s.products),
                            "languages": list(s.languages),
                            "capacity": s.capacity,
                            "active": True,
                        },
                    )
                )
                first = s.name.split()[0].lower()
                last = _slug(s.name.split()[1])
                work.append(
                    api.call(
                        "closing",
                        "PUT",
                        f"/sellers/{s.seller_id}/card?organisation_id={s.org_id}",
                        as_=ops,
                        body={
                            "seller_id": s.seller_id,
                            "name": s.name,
                            "title": s.title,
                            "phone": s.phone,
                            "email": f"{first}.{last}@{org.domain}",
                            "company": org.company,
                            "timezone": "Europe/Helsinki",
                        },
                    )
                )
            bar = prog.add_task("Ops: sellers, cards, bundle prices, policies", total=len(work))
            await self.gather_bounded(work, bar, prog)

    # -------------------------------------------------------------- 2. leads

    def _decided(self, plan: LeadPlan) -> bool:
        if self.ev("LeadRejected", lead_id=plan.lead_id):
            plan.status = "rejected"
        elif self.ev("LeadLinkedAsDuplicate", lead_id=plan.lead_id):
            plan.status = "duplicate"
        elif assigned := self.ev("LeadAssigned", lead_id=plan.lead_id):
            if plan.status == "sent":
                plan.status = "assigned"
            plan.seller_id = assigned[-1].seller_id
        return plan.status != "sent"

    async def send_leads(self) -> None:
        with self.progress() as prog:
            sent = prog.add_task("Upstream systems send qualified leads", total=len(self.plans))
            decided = prog.add_task("Handoff: D1 gate, duplicates, routing", total=len(self.plans))
            # Duplicates are sent after their originals, as a partner re-sending a list would.
            ordered = sorted(self.plans, key=lambda p: p.duplicate_of is not None)
            for i in range(0, len(ordered), 25):
                chunk = ordered[i : i + 25]
                now = self.clock.now()
                for p in chunk:
                    p.event = p.event.model_copy(update={"qualified_at": now})
                await self.publish([p.event for p in chunk], source=SOURCE_SYSTEM)
                prog.advance(sent, len(chunk))
                await asyncio.sleep(0.05)

            # Leads waiting in the unassigned queue get a seller when verdicts free one:
            # half of them decided is enough to go on.
            await until_count(
                lambda: sum(map(self._decided, self.plans)),
                (len(self.plans) + 1) // 2,
                self.timeout,
                lambda n: prog.update(decided, completed=n),
            )
            if all(p.status == "sent" for p in self.plans):
                raise DemoError(
                    "handoff did not decide any lead in time: see .local/run/logs/handoff.log"
                )

    # -------------------------------------------------------------- 3. verdicts

    async def _verdict(self, plan: LeadPlan) -> None:
        api = self.api
        assert api is not None and plan.seller_id is not None
        reason = None if plan.accept else plan.return_reason
        text = RETURN_TEXT.get(reason or "")
        if plan.via_kafka_verdict:
            await self.publish(
                [
                    LeadVerdictSubmitted(
                        lead_id=plan.lead_id,
                        seller_id=plan.seller_id,
                        verdict=Verdict.ACCEPT if plan.accept else Verdict.RETURN,
                        reason_code=ReturnReason(reason) if reason else None,
                        reason_text=text,
                        submitted_at=self.clock.now(),
                    )
                ],
                source="sellers-crm-app",
            )
        else:
            body: dict[str, Any] = {"verdict": "accept" if plan.accept else "return"}
            if reason:
                body |= {"reason_code": reason, "reason_text": text}
            await api.call(
                "handoff",
                "POST",
                f"/leads/{plan.lead_id}/verdict",
                as_=(plan.seller_id, "seller"),
                body=body,
                ok=(200, 201, 409),
            )

    async def give_verdicts(self) -> None:
        given: set[str] = set()
        with self.progress() as prog:
            bar = prog.add_task("Sellers accept or return their leads (D3)", total=None)
            last_progress = time.monotonic()
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                for p in self.plans:
                    self._decided(p)
                waiting = [
                    p for p in self.plans if p.status == "assigned" and p.lead_id not in given
                ]
                routable = [p for p in self.plans if p.status not in ("rejected", "duplicate")]
                prog.update(bar, total=len(routable), completed=len(given))
                if waiting:
                    given.update(p.lead_id for p in waiting)
                    await asyncio.gather(*(self._verdict(p) for p in waiting))
                    prog.update(bar, completed=len(given))
                    last_progress = time.monotonic()
                    continue
                if len(given) >= len(routable) and all(p.status != "sent" for p in self.plans):
                    break
                if time.monotonic() - last_progress > 30:
                    break  # the rest wait in the unassigned queue
                await asyncio.sleep(0.2)
            outcome = prog.add_task("Handoff: verdicts back to the sources", total=len(given))

            def settled(p: LeadPlan) -> bool:
                if self.ev("LeadAccepted", lead_id=p.lead_id):
                    p.status = "accepted"
                elif self.ev("LeadReturned", lead_id=p.lead_id):
                    p.status = "returned"
                return p.status in ("accepted", "returned")

            mine = [p for p in self.plans if p.lead_id in given]
            await until_count(
                lambda: sum(map(settled, mine)),
                len(mine),
                60,
                lambda n: prog.update(outcome, completed=n),
            )
        queued = sum(p.status in ("sent", "assigned") for p in self.plans)
        if queued:
            self.console.print(
                f"[yellow]{queued} lead(s) still wait for a seller or a verdict[/] "
                "(the dashboard shows the unassigned queue)."
            )

    # -------------------------------------------------------------- 4. deals

    def _lines(self, plan: LeadPlan, with_upsell: bool) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = [
            {
                "product_code": code,
                "description": PRODUCTS[code].description,
                "quantity": str(qty),
                "unit_price": _money(PRODUCTS[code].price),
            }
            for code, qty in plan.products
        ]
        if with_upsell and plan.upsell:
            p = PRODUCTS[plan.upsell]
            lines.append(
                {
                    "product_code": p.code,
                    "description": p.description,
                    "quantity": "1",
                    "unit_price": _money(p.price),
                    "upsell": True,
                }
            )
        return lines

    async def _work_deal(self, plan: LeadPlan) -> None:
        api = self.api
        assert api is not None and plan.seller_id and plan.deal_id
        seller = (plan.seller_id, "seller")
        deal = f"/deals/{plan.deal_id}"
        channels = ["in_person", "remote", "phone"]
        rng = random.Random(plan.lead_id)
        for i in range(plan.contacts):
            await api.call(
                "closing",
                "POST",
                f"{deal}/contacts",
                as_=seller,
                body={
                    "channel": channels[(i + len(plan.lead_id)) % 3],
                    "summary": [
                        "Discovery meeting: current process and pains",
                        "Demo of the product to the team",
                        "Answered the same risk questions again (D6)",
                    ][i],
                },
            )
            if i == 0:
                await api.call(
                    "closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "meeting"}
                )
        plan.offer_ref = f"OFF-{plan.lead_id[-9:]}"
        await api.call(
            "closing",
            "POST",
            f"{deal}/offers",
            as_=seller,
            body={
                "offer_ref": plan.offer_ref,
                "lines": self._lines(plan, with_upsell=False),
                "vat_rate": "25.5",
                "valid_until": self.vdate(30).isoformat(),
            },
        )
        await api.call("closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "offer"})
        if plan.referral and plan.outcome != "close":
            await api.call(
                "closing",
                "POST",
                f"{deal}/referrals",
                as_=seller,
                body={
                    "name": "Pekka Puro",
                    "company": "Purotekniikka Oy",
                    "phone": "+358 40 555 0101",
                    "note": "Sister company, same needs",
                },
            )
        if plan.outcome == "open":
            plan.deal_state = "open"  # a long deal: it stays on the buying path (D5)
            return
        if plan.outcome == "lose":
            await api.call(
                "closing",
                "POST",
                f"{deal}/lose",
                as_=seller,
                body={"reason": rng.choice(LOSS_REASONS)},
            )
            plan.deal_state = "lost"
            return
        await api.call("closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "closing"})
        signed_by = plan.event.prospect.contact.name if plan.event.prospect.contact else None
        signature: dict[str, Any] = {"method": plan.signature, "signed_by": signed_by}
        if plan.signature == "onsite_signed_form":
            signature |= {
                "document_ref": f"ORDER-{plan.lead_id[-9:]}",
                "document_url": f"https://docs.{plan.org.domain}/orders/{plan.lead_id}.pdf",
            }
        elif plan.signature == "accepted_offer":
            signature |= {"offer_ref": plan.offer_ref, "accepted_at": self.clock.now().isoformat()}
        else:
            signature |= {"envelope_id": f"env-{uuid.uuid4().hex[:10]}"}
        milestones = [{"on": self.vdate(rng.randint(7, 21)).isoformat(), "description": "Licences"}]
        if plan.upsell == "TRAIN-1D":
            milestones.append({"on": self.vdate(35).isoformat(), "description": "Training day"})
        body: dict[str, Any] = {
            "lines": (
                []
                if plan.signature == "accepted_offer" and not plan.upsell
                else self._lines(plan, with_upsell=True)
            ),
            "delivery_schedule": {"milestones": milestones},
            "price": {"vat_rate": "25.5", "currency": "EUR"},
            "payment_terms": {"description": "14 days net", "net_days": 14},
            "signature": signature,
            "customer_reference": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.6 else None,
            "referrals": (
                [
                    {
                        "name": "Leena Laaksonen",
                        "company": "Laakson Kone Oy",
                        "email": "leena@laaksonkone.example",
                        "note": "Asked at closing (D8)",
                    }
                ]
                if plan.referral
                else []
            ),
        }
        if plan.incomplete_first_close:
            # D9: a close without payment terms is refused, naming what is missing.
            r = await api.call(
                "closing",
                "POST",
                f"{deal}/close",
                as_=seller,
                body={k: v for k, v in body.items() if k != "payment_terms"},
                ok=(422,),
            )
            if "payment_terms" in r.json().get("missing", []):
                self.stats["close refused: missing payment terms (D9)"] += 1
        await api.call("closing", "POST", f"{deal}/close", as_=seller, body=body)
        plan.deal_state = "closed"

    async def work_deals(self) -> None:
        accepted = [p for p in self.plans if p.status == "accepted"]
        for p in accepted:
            p.deal_id = f"deal-{p.lead_id}"
        with self.progress() as prog:
            opened = prog.add_task("Closing opens deals for accepted leads", total=len(accepted))

            def customers_known() -> int:
                n = 0
                for p in accepted:
                    if p.customer_id is None and (o := self.ev("DealOpened", deal_id=p.deal_id)):
                        p.customer_id = o[0].customer_id
                    n += p.customer_id is not None
                return n

            await until_count(
                customers_known,
                len(accepted),
                self.timeout,
                lambda n: prog.update(opened, completed=n),
            )
            ready = [p for p in accepted if p.customer_id]
            bar = prog.add_task(
                "Sellers: contacts, offers, upsell, closes (D5-D10)", total=len(ready)
            )
            await self.gather_bounded([self._work_deal(p) for p in ready], bar, prog)
            closed = [p for p in ready if p.deal_state == "closed"]
            seen = prog.add_task("DealClosed events", total=len(closed))
            await until_count(
                lambda: sum(bool(self.ev("DealClosed", deal_id=p.deal_id)) for p in closed),
                len(closed),
                self.timeout,
                lambda n: prog.update(seen, completed=n),
            )

    # -------------------------------------------------------------- 5. confirmations

    async def confirmations(self) -> None:
        closed = [p for p in self.plans if p.deal_state == "closed"]
        immediate = [p for p in closed if p.org.policy == "immediate"]

        def sent(plans: list[LeadPlan]) -> int:
            return sum(bool(self.ev("ConfirmationSent", deal_id=p.deal_id)) for p in plans)

        with self.progress() as prog:
            sched = prog.add_task("Confirmations drafted (D11, D12)", total=len(closed))
            now_bar = prog.add_task("Confirmations sent", total=len(closed))

            def tick() -> None:
                prog.update(
                    sched,
                    completed=sum(
                        bool(self.ev("ConfirmationScheduled", deal_id=p.deal_id)) for p in closed
                    ),
                )
                prog.update(now_bar, completed=sent(closed))

            await until(
                lambda: (
                    all(self.ev("ConfirmationScheduled", deal_id=p.deal_id) for p in closed)
                    and sent(immediate) >= len(immediate)
                ),
                min(self.timeout, 120),
                tick,
            )
        later = [p for p in closed if not self.ev("ConfirmationSent", deal_id=p.deal_id)]
        if later:
            send_at = [
                s.send_at
                for p in later
                for s in self.ev("ConfirmationScheduled", deal_id=p.deal_id)
                if s.send_at
            ]
            if send_at:
                first = min(send_at)
                real = self.clock.real_seconds(first - self.clock.now())
                when = f"{real / 60:.1f} real minutes" if real >= 60 else f"{real:.0f} real seconds"
                self.console.print(
                    f"{len(later)} confirmation(s) go out the next business morning "
                    f"({first:%a %H:%M} UTC business time, in about {when}): "
                    "watch the mail sink."
                )

    # -------------------------------------------------------------- 6. ERP deliveries

    async def deliveries(self) -> None:
        closed = [p for p in self.plans if p.deal_state == "closed" and p.customer_id]
        delivered = [p for p in closed if p.delivered]
        with self.progress() as prog:
            known = prog.add_task("Followup takes on the new customers", total=len(closed))
            # The customer's seller is known to followup once it has seen the DealClosed.
            await until_count(
                lambda: sum(
                    bool(self.ev("NextContactScheduled", customer_id=p.customer_id)) for p in closed
                ),
                len(closed),
                self.timeout,
                lambda n: prog.update(known, completed=n),
            )
            bar = prog.add_task("ERP reports deliveries", total=len(delivered))
            events = []
            for p in delivered:
                assert p.deal_id and p.customer_id
                items = [DeliveredItem(product_code=c, quantity=Decimal(q)) for c, q in p.products]
                if p.upsell:
                    items.append(DeliveredItem(product_code=p.upsell, quantity=Decimal(1)))
                events.append(
                    DeliveryCompleted(
                        delivery_id=f"dlv-{p.lead_id}",
                        deal_id=p.deal_id,
                        customer_id=p.customer_id,
                        organisation_id=p.org.org_id,
                        items=items,
                        delivered_at=self.clock.now(),
                        notes="Delivered complete" if not p.problem else None,
                    )
                )
            await self.publish(events, source="erp")
            prog.update(bar, completed=len(events))
            scheduled = prog.add_task("Feedback calls scheduled (D13)", total=len(delivered))

            await until_count(
                lambda: sum(self._feedback_contact(p) is not None for p in delivered),
                len(delivered),
                self.timeout,
                lambda n: prog.update(scheduled, completed=n),
            )

    # -------------------------------------------------------------- 7. feedback calls

    def _feedback_contact(self, p: LeadPlan) -> Any | None:
        found = self.ev("NextContactScheduled", customer_id=p.customer_id, kind="feedback_call")
        return found[-1] if found else None

    async def feedback_calls(self) -> None:
        api = self.api
        assert api is not None
        delivered = [
            p for p in self.plans if p.deal_state == "closed" and p.delivered and p.customer_id
        ]
        contacts = {p.lead_id: self._feedback_contact(p) for p in delivered}
        due_times = [c.due_at for c in contacts.values() if c is not None]
        if due_times:
            last = max(due_times)
            wait = self.clock.real_seconds(last - self.clock.now())
            with self.progress() as prog:
                bar = prog.add_task("Feedback calls come due (ContactDue)", total=len(delivered))

                def due(p: LeadPlan) -> bool:
                    c = contacts[p.lead_id]
                    return c is not None and bool(self.ev("ContactDue", contact_id=c.contact_id))

                if wait <= self.followup_wait:
                    await until_count(
                        lambda: sum(map(due, delivered)),
                        len(delivered),
                        min(wait + 15, self.followup_wait + 15),
                        lambda n: prog.update(bar, completed=n),
                    )
                else:
                    prog.update(bar, completed=sum(map(due, delivered)))
                    self.console.print(
                        f"Feedback calls fall due from {min(due_times):%a %d.%m. %H:%M} UTC "
                        f"business time (about {wait / 60:.0f} real minutes at {self.speed:g}x);"
                        " sellers call some customers ahead of time, the rest stay scheduled."
                    )
        calls: list[LeadPlan] = []
        for p in delivered:
            c = contacts[p.lead_id]
            if c is None:
                continue
            if self.ev("ContactDue", contact_id=c.contact_id) or p.call_ahead:
                calls.append(p)
        with self.progress() as prog:
            bar = prog.add_task("Sellers log feedback calls (D13-D15)", total=len(calls))
            await self.gather_bounded(
                [self._feedback_call(p, contacts[p.lead_id]) for p in calls], bar, prog
            )
            problems = [p for p in calls if p.problem]
            fixed = prog.add_task("Problems fixed, next contacts set (D14)", total=len(problems))

            async def fix(p: LeadPlan) -> None:
                ok = await until(
                    lambda: bool(self.ev("ProblemReported", customer_id=p.customer_id)), 30
                )
                if not ok:
                    return
                ids = [e.problem_id for e in self.ev("ProblemReported", customer_id=p.customer_id)]
                await api.call(
                    "followup",
                    "POST",
                    f"/customers/{p.customer_id}/contacts",
                    as_=(p.seller_id or "", "seller"),
                    body={
                        "resolved_problem_ids": ids,
                        "delivery_ok": True,
                        "notes": "Fixed: " + (p.problem or "").lower(),
                        "next_contact_on": self.vdate(90).isoformat(),
                    },
                )
                self.stats["problems fixed"] += len(ids)

            await self.gather_bounded([fix(p) for p in problems], fixed, prog)
        self.stats["feedback calls logged"] = len(calls)

    async def _feedback_call(self, p: LeadPlan, contact: Any) -> None:
        api = self.api
        assert api is not None
        body: dict[str, Any] = {
            "contact_id": contact.contact_id,
            "delivery_ok": p.problem is None,
            "problems": [p.problem] if p.problem else [],
            "upsell_interest": p.upsell_interest and p.problem is None,
            "notes": "Feedback call after delivery",
        }
        if p.referral_on_call:
            body["referrals"] = [
                {
                    "name": "Tiina Toivonen",
                    "company": "Toivon Metalli Oy",
                    "phone": "+358 40 555 0199",
                    "note": "Asked on the feedback call (D13)",
                }
            ]
        if p.next_contact_days is not None:
            body["next_contact_on"] = self.vdate(p.next_contact_days).isoformat()
        await api.call(
            "followup",
            "POST",
            f"/customers/{p.customer_id}/contacts",
            as_=(p.seller_id or "", "seller"),
            body=body,
        )

    # -------------------------------------------------------------- 8. campaign (D17)

    async def campaign(self) -> None:
        api = self.api
        assert api is not None
        org = ORGS[0]
        customers = {
            p.customer_id: p
            for p in self.plans
            if p.deal_state == "closed" and p.customer_id and p.org is org
        }
        if not customers:
            return
        now = self.clock.now()
        events = [
            CustomerClassificationSubmitted(
                customer_id=cid,
                organisation_id=org.org_id,
                attributes=CustomerAttributes(
                    industry=p.event.prospect.industry,
                    size=p.event.prospect.size,
                    region=p.event.prospect.region,
                    products_owned=sorted({c for c, _ in p.products}),
                    renewal_month=(now.month % 12) + 1,
                    tags=["demo"],
                ),
                submitted_at=now,
            )
            for cid, p in customers.items()
        ]
        manufacturing = sum(
            p.event.prospect.industry == "manufacturing" for p in customers.values()
        )
        criteria = {"industries": ["manufacturing"]}
        with self.progress() as prog:
            bar = prog.add_task("CRM classifies customers (D17)", total=len(events))
            await self.publish(events, source="crm")
            matched = 0

            async def counted() -> int:
                r = await api.call(
                    "followup",
                    "POST",
                    "/segments/query",
                    as_=("ops-demo", "ops"),
                    body={"organisation_id": org.org_id, "criteria": criteria, "limit": 0},
                )
                return int(r.json()["count"])

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                matched = await counted()
                if matched >= manufacturing:
                    break
                await asyncio.sleep(0.3)
            prog.update(bar, completed=len(events))
            self.stats["manufacturing customers in segment"] = matched
            campaign_id = f"camp-{self.run_id}-machinery-law"
            start = self.clock.now() + timedelta(minutes=30)
            await api.call(
                "followup",
                "POST",
                "/campaigns",
                as_=("ops-demo", "ops"),
                body={
                    "campaign_id": campaign_id,
                    "organisation_id": org.org_id,
                    "criteria": criteria,
                    "reason": "Law change: the new machinery regulation affects manufacturing "
                    "customers; contact them before competitors do",
                    "due_from": start.isoformat(),
                    "due_until": (start + timedelta(hours=3)).isoformat(),
                },
            )
            ok = await until(
                lambda: bool(self.ev("SegmentCampaignStarted", campaign_id=campaign_id)), 60
            )
            if not ok:
                self.console.print("[yellow]The campaign did not start in time.[/]")
                return
            total = self.ev("SegmentCampaignStarted", campaign_id=campaign_id)[0].matched_customers
            self.stats["campaign customers"] = total
            due = prog.add_task("Campaign contacts come due (ContactDue)", total=total)
            wait = self.clock.real_seconds(timedelta(hours=3.5))
            if wait <= self.followup_wait:
                await until_count(
                    lambda: len(self.ev("ContactDue", campaign_id=campaign_id)),
                    total,
                    wait + 20,
                    lambda n: prog.update(due, completed=n),
                )
            self.stats["campaign contacts due"] = len(
                self.ev("ContactDue", campaign_id=campaign_id)
            )

    # -------------------------------------------------------------- summary

    async def _digest_seller(self) -> tuple[str, str] | None:
        """A seller the followup service knows (a closed deal brought their card) whose
        next digest has something to list: an overdue contact (a morning with nothing
        to list is skipped); else the first such seller."""
        sellers = list(
            dict.fromkeys(
                (p.org.org_id, p.seller_id)
                for p in self.plans
                if p.deal_state == "closed" and p.seller_id
            )
        )
        if self.api is None:
            return None
        for org, seller in sellers[:20]:
            try:
                r = await self.api.call(
                    "followup",
                    "GET",
                    f"/sellers/{seller}/contacts?when=overdue&organisation_id={org}",
                    as_=(seller, "seller"),
                )
            except (DemoError, httpx.HTTPError):
                continue
            if r.json().get("contacts"):
                return org, seller
        return sellers[0] if sellers else None

    async def digest_note(self) -> dict[str, Any]:
        """The first seller's daily digest (followup, D15/D16): it goes out the next
        business morning at the organisation's hour in the seller's zone. When that is
        at most ``digest_wait`` real seconds away, wait for it and say where it landed;
        otherwise say when it will. Returns the facts (``digest_state``)."""
        picked = await self._digest_seller()
        if picked is None or self.api is None:
            return {}
        org, seller = picked
        path = f"/sellers/{seller}/digest?organisation_id={org}"
        try:
            mine = await self.api.call("followup", "GET", path, as_=(seller, "seller"))
            setting = await self.api.call(
                "followup", "GET", f"/organisations/{org}/digest", as_=("demo-ops", "ops")
            )
        except (DemoError, httpx.HTTPError):
            return {}  # only a hint: the demo goes on without it
        day = mine.json().get("next_digest_day")
        if not day:
            return {}
        hour = int(setting.json()["hour"])
        at = datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
            hour=hour, tzinfo=ZoneInfo("Europe/Helsinki")
        )
        real = max(0.0, self.clock.real_seconds(at - self.clock.now()))
        when = f"{real / 60:.1f} real minutes" if real >= 60 else f"{real:.0f} real seconds"
        what = "(contacts due, yearly contacts, open problems, leads waiting, quiet customers)"
        if real > self.digest_wait:
            self.console.print(
                f"Seller {seller}'s daily digest {what} goes out {day} {hour:02d}:00 "
                f"Helsinki time, in about {when}: watch the mail sink."
            )
            return {"digest_state": "later", "digest_day": day}
        latest: dict[str, Any] = {}
        deadline = time.monotonic() + real + 60  # its morning, then a minute to send it
        with self.console.status(f"Seller {seller}'s daily digest for {day}: in about {when}"):
            while time.monotonic() < deadline:
                try:
                    r = await self.api.call("followup", "GET", path, as_=(seller, "seller"))
                    latest = r.json().get("latest") or {}
                except (DemoError, httpx.HTTPError):
                    latest = {}
                # A morning with nothing to list is skipped; a later one may send.
                if latest.get("day", "") >= day and latest.get("state") == "sent":
                    break
                await asyncio.sleep(0.5)
        state = latest.get("state") if latest.get("day", "") >= day else None
        if state == "sent":
            self.console.print(
                f"In the mail sink: seller {seller}'s daily digest for {latest['day']} {what}, "
                f"Message-ID {latest.get('message_id', '?')}."
            )
        else:
            why = latest.get("reason") or latest.get("last_error") or ""
            self.console.print(
                f"[yellow]Seller {seller}'s daily digest for {day}:[/] {state or 'not sent'} {why}"
            )
        return {"digest_state": state or "not sent", "digest_day": latest.get("day", day)}

    async def what_if_note(self) -> None:
        """Routing what-if (handoff, issue #21): the first organisation's last 4 weeks of
        leads replayed without the seller who got most of this run's; one summary line."""
        org = ORGS[0].org_id
        got = Counter(
            e.seller_id
            for e in self.ev("LeadAssigned", organisation_id=org)
            if e.lead_id.startswith(f"lead-{self.run_id}")
        )
        if not got or self.api is None:
            return
        seller = got.most_common(1)[0][0]
        try:
            r = await self.api.call(
                "handoff",
                "POST",
                "/what-if",
                as_=("demo-ops", "ops"),
                body={"organisation_id": org, "weeks": 4, "remove": [seller]},
            )
        except (DemoError, httpx.HTTPError) as exc:
            self.console.print(f"[yellow]routing what-if did not run:[/] {exc}")
            return
        result = r.json()
        nobody = result["proposed"]["waiting"]
        why = ", ".join(f"{k} {v}" for k, v in result["proposed"]["waiting_by_reason"].items())
        self.stats["what_if_owner_changed"] = result["owner_changed"]
        self.stats["what_if_nobody_could_take"] = nobody
        self.console.print(
            f"Routing what-if without {seller} in {org} ({result['leads']} leads, last 4 "
            f"weeks): {result['owner_changed']} leads change owner, {nobody} leads nobody "
            f"could take{f' ({why})' if why else ''}. Try your own: `kauppa routing what-if "
            "FILE` or the dashboard's what-if panel."
        )

    async def summary(self, seconds: float) -> dict[str, Any]:
        await asyncio.sleep(1.0)  # let the last events arrive
        table = Table(title=f"Demo run {self.run_id}: leads by source (D2-D4)")
        for col in (
            "source",
            "leads",
            "gate rejected",
            "duplicates",
            "accepted",
            "returned",
            "closed",
            "lost",
            "open",
        ):
            table.add_column(col, justify="left" if col == "source" else "right")
        for s in SOURCES:
            ps = [p for p in self.plans if p.source is s]
            table.add_row(
                s.label,
                str(len(ps)),
                str(sum(p.status == "rejected" for p in ps)),
                str(sum(p.status == "duplicate" for p in ps)),
                str(sum(p.status == "accepted" for p in ps)),
                str(sum(p.status == "returned" for p in ps)),
                str(sum(p.deal_state == "closed" for p in ps)),
                str(sum(p.deal_state == "lost" for p in ps)),
                str(sum(p.deal_state == "open" for p in ps)),
            )
        self.console.print(table)
        deal_ids = {p.deal_id for p in self.plans if p.deal_id}
        customer_ids = {p.customer_id for p in self.plans if p.customer_id}
        if self.hooks is not None and self.api is not None:
            await until_delivered(self.api, self.hooks, timeout=30)
        await self.what_if_note()
        returns = Counter(
            e.reason_code.value
            for e in self.ev("LeadReturned")
            if e.lead_id.startswith(f"lead-{self.run_id}")
        )
        facts = {
            "run_id": self.run_id,
            "leads": len(self.plans),
            "deals_opened": len(deal_ids),
            "deals_closed": sum(e.deal_id in deal_ids for e in self.ev("DealClosed")),
            "deals_lost": sum(e.deal_id in deal_ids for e in self.ev("DealLost")),
            "confirmations_sent": len(
                {e.deal_id for e in self.ev("ConfirmationSent") if e.deal_id in deal_ids}
            ),
            "confirmations_failed": sum(
                e.deal_id in deal_ids for e in self.ev("ConfirmationFailed")
            ),
            "contact_due": sum(e.customer_id in customer_ids for e in self.ev("ContactDue")),
            "feedback_calls_completed": sum(
                e.customer_id in customer_ids for e in self.ev("FeedbackCallCompleted")
            ),
            "problems_reported": sum(
                e.customer_id in customer_ids for e in self.ev("ProblemReported")
            ),
            "problems_resolved": sum(
                e.customer_id in customer_ids for e in self.ev("ProblemResolved")
            ),
            "return_reasons": dict(returns),
            **{k.replace(" ", "_"): v for k, v in self.stats.items()},
            **(self.hooks.facts() if self.hooks is not None else {}),
            "seconds": round(seconds, 1),
        }
        flow = Table(title="What happened", show_header=False)
        for k, v in facts.items():
            if k not in ("run_id", "return_reasons", "webhook_deliveries_by_type"):
                flow.add_row(k.replace("_", " "), str(v))
        flow.add_row("return reasons", ", ".join(f"{k} {v}" for k, v in returns.most_common()))
        if self.hooks is not None:
            by_type = self.hooks.facts()["webhook_deliveries_by_type"]
            flow.add_row(
                f"webhook deliveries by type ({self.hooks.verified_with})",
                ", ".join(f"{k} {v}" for k, v in by_type.items()),
            )
        self.console.print(flow)
        facts.update(await self.digest_note())
        dashboard = self.urls.get("dashboard", "http://127.0.0.1:8100")
        mails = self.state.get("smtp", {}).get("ui", "http://127.0.0.1:8025")
        self.console.print(
            f"\n[bold]Where to look[/]\n  dashboard  {dashboard}  (token: `kauppa token ops`)\n"
            f"  mail sink  {mails}  (the order confirmations; each business morning, "
            "every seller's daily digest)\n"
            f"  source quality  {self.urls['handoff']}/docs  GET /stats/sources"
            "?organisation_id=org-pohjola\n"
            f"Done in {seconds:.0f} s. Confirmations scheduled for the next business morning "
            "and the feedback calls still to come keep arriving while the system runs."
        )
        return facts


def run_demo(
    console: Console,
    state_file: Path,
    leads: int,
    seed: int,
    followup_wait: float,
    timeout: float,
    digest_wait: float = 300.0,
) -> dict[str, Any]:
    state = load_state(state_file)
    demo = Demo(
        state,
        leads,
        seed,
        console,
        followup_wait=followup_wait,
        timeout=timeout,
        digest_wait=digest_wait,
    )
    return asyncio.run(demo.run())
