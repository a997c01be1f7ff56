"""The seller's daily digest (D15, D16): who gets one, what it holds, and sending it
once per seller per business day on the kit's durable timers.

- ``sellers``: one per (organisation, seller), from the seller's card on ``DealClosed``
  (name, email, time zone), with the seller's own opt-out and language.
- ``leads``: the handoff's leads still waiting for their seller's verdict
  (``LeadAssigned`` until ``LeadAccepted`` / ``LeadReturned`` / ``LeadReassigned``).
- ``digest_settings``: an organisation's setting (on/off, hour, N days, country, language).
- ``digests``: one per (organisation, seller, day), its id the timer's key.

Sending: the timer ``digest:{org}:{seller}:{day}`` fires in the kit's transaction. The
handler arms the next business morning's timer (same transaction), composes the list,
and then, outside the transaction, records the attempt on the digest (a claim with a
lease, the attempt counted, the first attempt's time) BEFORE it hands the email to the
SMTP server with a Message-ID derived from (organisation, seller, day), and records the
outcome after. A re-fire finds it ``sent`` and sends nothing; a crash between the SMTP
server's 250 and that record resends the same email (same Message-ID and Date), counted
as ``interrupted_attempts``: the one window for a duplicate, as for confirmations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr
from functools import partial

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from kauppa.contracts import Envelope
from kauppa.contracts.events.common import SellerCard
from kauppa.contracts.events.leads import LeadAccepted, LeadAssigned, LeadReassigned, LeadReturned
from kauppa.followup.domain.digest import (
    DigestContent,
    DigestPolicy,
    DueContact,
    OpenProblems,
    QuietCustomer,
    Section,
    WaitingLead,
    YearlyContact,
    digest_key,
    is_stale,
    local_day,
    message_id,
    next_digest_day,
    pick_locale,
    quiet_days_of,
    send_at,
)
from kauppa.followup.domain.digest_wording import DigestWording
from kauppa.followup.repository import CONTACTS, CUSTOMERS
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.ids import header_safe
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.mail import OutgoingEmail, SmtpMailer, SmtpOutcome, address
from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.repository import Document
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

log = get_logger(__name__)

SELLERS = "sellers"
LEADS = "leads"
DIGESTS = "digests"
DIGEST_SETTINGS = "digest_settings"
DIGEST = "digest"  # timer kind

DIGEST_INDEXES: tuple[Indexes, ...] = (
    Indexes(
        CUSTOMERS,
        (
            # A seller's customers: open problems, the D16 deadline, the quiet ones.
            IndexModel(
                [("seller_id", ASCENDING), ("organisation_id", ASCENDING), ("active", ASCENDING)],
                name="seller_customers",
            ),
        ),
    ),
    Indexes(SELLERS, (IndexModel([("organisation_id", ASCENDING)], name="organisation"),)),
    Indexes(
        LEADS,
        (
            IndexModel(
                [("seller_id", ASCENDING), ("state", ASCENDING), ("respond_by", ASCENDING)],
                name="waiting",
            ),
        ),
    ),
)


def seller_key(organisation_id: str, seller_id: str) -> str:
    return f"{organisation_id}:{seller_id}"


def policy_from(doc: Document | None, settings: FollowupSettings) -> DigestPolicy:
    d = doc or {}
    return DigestPolicy(
        enabled=d.get("enabled", settings.digest_enabled),
        hour=d.get("hour", settings.digest_hour),
        quiet_days=d.get("quiet_days", settings.digest_quiet_days),
        yearly_window_days=d.get("yearly_window_days", settings.digest_yearly_window_days),
        country=d.get("country") or settings.holiday_country,
        locale=d.get("locale") or settings.digest_locale,
    )


async def policy_of(
    uow: UnitOfWork, organisation_id: str, settings: FollowupSettings
) -> DigestPolicy:
    doc = await uow.collection(DIGEST_SETTINGS).find_one({"_id": organisation_id})
    return policy_from(doc, settings)


def timezone_of(seller: Document, settings: FollowupSettings) -> str:
    return seller.get("timezone") or settings.default_timezone


def arm(uow: UnitOfWork, seller: Document, policy: DigestPolicy, day: date, tz: str) -> None:
    """The seller's digest timer for ``day`` (an existing one is left alone)."""
    org, sid = seller["organisation_id"], seller["seller_id"]
    uow.schedule(
        digest_key(org, sid, day),
        send_at(day, policy.hour, tz),
        DIGEST,
        {"organisation_id": org, "seller_id": sid, "day": day.isoformat()},
        replace=False,
    )


# ------------------------------------------------------------------ projections


async def note_sellers(
    uow: UnitOfWork, cards: Iterable[tuple[str, SellerCard]], settings: FollowupSettings
) -> None:
    """Sellers from their cards (DealClosed): known ones refreshed when their card
    changed; a seller without an armed digest gets its first morning's timer."""
    latest = {seller_key(org, c.seller_id): (org, c) for org, c in cards}
    if not latest:
        return
    sellers = uow.collection(SELLERS)
    known = {d["_id"]: d async for d in sellers.find({"_id": {"$in": list(latest)}})}
    ops: list[UpdateOne] = []
    for key, (org, card) in latest.items():
        doc = known.get(key)
        fields = {"name": card.name, "email": card.email, "timezone": card.timezone}
        changed = doc is None or any(doc.get(k) != v for k, v in fields.items())
        seller = {**(doc or {}), "organisation_id": org, "seller_id": card.seller_id, **fields}
        tz = timezone_of(seller, settings)
        armed = (doc or {}).get("next_digest_day")
        if armed is None or date.fromisoformat(armed) < local_day(uow.now, tz):
            policy = await policy_of(uow, org, settings)
            if policy.enabled:  # off: no timers (turning it on arms them)
                day = next_digest_day(uow.now, policy, tz)
                arm(uow, seller, policy, day, tz)
                fields["next_digest_day"] = day.isoformat()
                changed = True
        if changed:
            ops.append(
                UpdateOne(
                    {"_id": key},
                    {
                        "$set": fields,
                        "$setOnInsert": {
                            "organisation_id": org,
                            "seller_id": card.seller_id,
                            "created_at": uow.now,
                        },
                    },
                    upsert=True,
                )
            )
    if ops:
        await sellers.bulk_write(ops, ordered=False)


async def note_leads(batch: list[Envelope], uow: UnitOfWork, deps: object) -> None:
    """Leads waiting for their seller's verdict, from the handoff's decisions
    (``LeadAssigned`` until ``LeadAccepted`` / ``LeadReturned`` / ``LeadReassigned``)."""
    ops: list[UpdateOne] = []
    for env in batch:
        e = env.event
        if isinstance(e, LeadAssigned):
            ops.append(
                UpdateOne(
                    {"_id": e.lead_id},
                    {
                        "$set": {
                            "organisation_id": e.organisation_id,
                            "seller_id": e.seller_id,
                            "state": "waiting",
                            "source": e.source.system,
                            "product_interest": list(e.product_interest),
                            "assigned_at": e.assigned_at,
                            "respond_by": e.respond_by,
                            "attempt": e.attempt,
                        }
                    },
                    upsert=True,
                )
            )
        elif isinstance(e, LeadAccepted | LeadReturned):
            state = "accepted" if isinstance(e, LeadAccepted) else "returned"
            ops.append(
                UpdateOne(
                    {"_id": e.lead_id, "seller_id": e.seller_id},
                    {"$set": {"state": state}},
                )
            )
        elif isinstance(e, LeadReassigned):
            # The next seller's LeadAssigned follows; until then nobody is waited on.
            ops.append(
                UpdateOne(
                    {"_id": e.lead_id, "seller_id": e.from_seller_id, "state": "waiting"},
                    {"$set": {"state": "reassigned"}},
                )
            )
    if ops:
        await uow.collection(LEADS).bulk_write(ops, ordered=True)


# ------------------------------------------------------------------ content


async def compose(
    uow: UnitOfWork,
    seller: Document,
    policy: DigestPolicy,
    day: date,
    now: datetime,
    settings: FollowupSettings,
    locale: str,
) -> DigestContent:
    """The seller's list for ``day``, as of ``now``: the same queries as the agenda
    (``GET /sellers/{id}/contacts``), bounded per section."""
    org, sid = seller["organisation_id"], seller["seller_id"]
    tz = timezone_of(seller, settings)
    limit = settings.digest_max_items
    end_of_day = send_at(day + timedelta(days=1), 0, tz)
    mine = {"organisation_id": org, "seller_id": sid}
    names: dict[str, str | None] = {}

    async def section(coll: str, query: Document, sort: list[tuple[str, int]]) -> list[Document]:
        return await uow.collection(coll).find(query).sort(sort).limit(limit).to_list()

    async def count(coll: str, query: Document) -> int:
        return await uow.collection(coll).count_documents(query)

    # Contacts: reminded and not logged (the agenda's "overdue"), and still scheduled
    # for today (the agenda's "upcoming", due before the day ends).
    contacts_q = {
        **mine,
        "$or": [{"state": "due"}, {"state": "scheduled", "due_at": {"$lt": end_of_day}}],
    }
    contacts = await section(CONTACTS, contacts_q, [("due_at", ASCENDING)])
    customers = {c["customer_id"] for c in contacts}
    if customers:
        async for c in uow.collection(CUSTOMERS).find(
            {"_id": {"$in": list(customers)}}, {"company_name": 1}
        ):
            names[c["_id"]] = c.get("company_name")
    active = {**mine, "active": True}
    yearly_q = {**active, "contact_deadline": {"$lt": now + timedelta(policy.yearly_window_days)}}
    problems_q = {**active, "open_problems.0": {"$exists": True}}
    quiet_q = {**active, "last_contact_at": {"$lt": now - timedelta(days=policy.quiet_days)}}
    leads_q = {**mine, "state": "waiting"}
    yearly = await section(CUSTOMERS, yearly_q, [("contact_deadline", ASCENDING)])
    problems = await section(CUSTOMERS, problems_q, [("_id", ASCENDING)])
    quiet = await section(CUSTOMERS, quiet_q, [("last_contact_at", ASCENDING)])
    leads = await section(LEADS, leads_q, [("respond_by", ASCENDING)])
    return DigestContent(
        organisation_id=org,
        seller_id=sid,
        seller_name=seller.get("name"),
        day=day,
        locale=locale,
        quiet_days=policy.quiet_days,
        yearly_window_days=policy.yearly_window_days,
        contacts=Section(
            items=[
                DueContact(
                    contact_id=c["_id"],
                    customer_id=c["customer_id"],
                    company=names.get(c["customer_id"]),
                    kind=c["kind"],
                    due_at=c["due_at"],
                    overdue=c["state"] == "due" or c["due_at"] < now,
                ).model_dump()
                for c in contacts
            ],
            total=await count(CONTACTS, contacts_q),
        ),
        yearly=Section(
            items=[
                YearlyContact(
                    customer_id=c["_id"],
                    company=c.get("company_name"),
                    deadline=c["contact_deadline"],
                ).model_dump()
                for c in yearly
            ],
            total=await count(CUSTOMERS, yearly_q),
        ),
        problems=Section(
            items=[
                OpenProblems(
                    customer_id=c["_id"],
                    company=c.get("company_name"),
                    problems=[p["description"] for p in c["open_problems"]],
                ).model_dump()
                for c in problems
            ],
            total=await count(CUSTOMERS, problems_q),
        ),
        leads=Section(
            items=[
                WaitingLead(
                    lead_id=d["_id"],
                    source=d.get("source"),
                    product_interest=d.get("product_interest") or [],
                    assigned_at=d["assigned_at"],
                    respond_by=d["respond_by"],
                ).model_dump()
                for d in leads
            ],
            total=await count(LEADS, leads_q),
        ),
        quiet=Section(
            items=[
                QuietCustomer(
                    customer_id=c["_id"],
                    company=c.get("company_name"),
                    last_contact_at=c.get("last_contact_at"),
                    days=quiet_days_of(c.get("last_contact_at"), now),
                ).model_dump()
                for c in quiet
            ],
            total=await count(CUSTOMERS, quiet_q),
        ),
    )


# ------------------------------------------------------------------ rendering


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    text: str
    html: str


class DigestRenderer:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("kauppa.followup", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html.j2",)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, content: DigestContent, timezone: str) -> RenderedDigest:
        w = DigestWording(content.locale, timezone)
        context = {"c": content, "w": w, "name": content.seller_name or content.seller_id}
        return RenderedDigest(
            subject=w("subject", day=w.day(content.day)),
            text=self.env.get_template("digest.txt.j2").render(context),
            html=self.env.get_template("digest.html.j2").render(context),
        )


def build_email(
    content: DigestContent,
    rendered: RenderedDigest,
    *,
    to: str,
    from_address: str,
    domain: str,
    dated: datetime,
) -> OutgoingEmail:
    """Every header a function of (organisation, seller, day) and the first attempt's
    time: a resend is the same email."""
    msg = MIMEMultipart("alternative")
    msg["Message-ID"] = message_id(content.organisation_id, content.seller_id, content.day, domain)
    msg["Date"] = format_datetime(dated)
    msg["From"] = from_address
    msg["To"] = address(content.seller_name or "", to)
    msg["Subject"] = Header(header_safe(rendered.subject), "utf-8")  # type: ignore[assignment]
    msg["X-Kauppa-Digest"] = header_safe(
        f"{content.organisation_id}/{content.seller_id}/{content.day.isoformat()}"
    )
    msg.attach(MIMEText(rendered.text, "plain", "utf-8"))
    msg.attach(MIMEText(rendered.html, "html", "utf-8"))
    return OutgoingEmail(parseaddr(from_address)[1], [header_safe(to)], msg.as_bytes())


# ------------------------------------------------------------------ sending


@dataclass
class _Send:
    key: str
    attempt: int
    timer: DueTimer
    content: DigestContent
    to: str
    timezone: str
    token: str
    dated: datetime


class DigestSender:
    """The timer handler for ``digest`` timers (see the module's docstring)."""

    def __init__(self, settings: FollowupSettings, mailer: SmtpMailer | None = None) -> None:
        self.settings = settings
        self.mailer = mailer or SmtpMailer(settings)
        self.renderer = DigestRenderer()
        self.owner = f"digest-{uuid.uuid4().hex[:12]}"

    async def fire(self, timers: list[DueTimer], uow: UnitOfWork) -> None:
        sends: list[_Send] = []
        for t in timers:
            send = await self._prepare(t, uow)
            if send is not None:
                sends.append(send)
        if not sends:
            return
        outcomes = await self.mailer.send_all([partial(self._email, s) for s in sends])
        for s, outcome in zip(sends, outcomes, strict=True):
            await self._record(s, outcome, uow)

    async def _prepare(self, t: DueTimer, uow: UnitOfWork) -> _Send | None:
        s, db, now = self.settings, uow.db, uow.now
        org, sid, day = t.payload["organisation_id"], t.payload["seller_id"], t.payload["day"]
        day_ = date.fromisoformat(day)
        attempt = int(t.payload.get("attempt", 1))
        key = digest_key(org, sid, day_)
        seller = await uow.collection(SELLERS).find_one({"_id": seller_key(org, sid)})
        if seller is None:
            return None
        policy = await policy_of(uow, org, s)
        tz = timezone_of(seller, s)
        if attempt == 1:  # the day's own timer arms the next business morning
            nxt = None
            if policy.enabled:  # off: the chain ends here (turning it on arms it again)
                nxt = next_digest_day(now, policy, tz, after=day_, catch_up=True)
                arm(uow, seller, policy, nxt, tz)
            await uow.collection(SELLERS).update_one(
                {"_id": seller["_id"]},
                {"$set": {"next_digest_day": nxt.isoformat() if nxt else None}},
            )
        # The digest's record is read and written outside the timer's transaction: the
        # attempt must stay recorded even if that transaction is rolled back.
        current = await db[DIGESTS].find_one({"_id": key})
        if current is not None and current.get("state") in ("sent", "failed", "skipped"):
            return None
        reason = None
        if not policy.enabled:
            reason = "organisation_off"
        elif seller.get("digest_opt_out"):
            reason = "seller_opted_out"
        elif not seller.get("email"):
            reason = "no_email"
        elif is_stale(day_, now, tz):
            reason = "stale"
        locale = pick_locale(seller.get("locale"), policy.locale)
        content = None
        if reason is None:
            content = await compose(uow, seller, policy, day_, now, s, locale)
            if content.is_empty():
                reason = "nothing_to_do"
        if reason is not None or content is None:
            await _skip(db, key, _base(org, sid, day), reason or "nothing_to_do")
            return None
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        claimed = await self._claim(db, key, token, now, content, org, sid, day)
        if claimed is None:
            return None  # another replica is sending it right now
        return _Send(
            key,
            attempt,
            t,
            content,
            seller["email"],
            tz,
            token,
            claimed["first_attempt_at"],
        )

    async def _claim(
        self,
        db: AsyncDatabase[Document],
        key: str,
        token: str,
        now: datetime,
        content: DigestContent,
        org: str,
        sid: str,
        day: str,
    ) -> Document | None:
        """Record the attempt before sending: ``sending`` under a lease; one that was
        ``sending`` already was interrupted (a crash): the resend is counted."""
        claimable = {
            "_id": key,
            "state": {"$nin": ["sent", "failed", "skipped"]},
            "$or": [{"claim_until": {"$exists": False}}, {"claim_until": {"$lt": now}}],
        }
        was_sending = {"$eq": ["$state", "sending"]}
        lease = timedelta(seconds=self.settings.digest_lease_seconds)
        try:
            return await db[DIGESTS].find_one_and_update(
                claimable,
                [
                    {
                        "$set": {
                            **_base(org, sid, day),
                            "state": "sending",
                            "claimed_by": token,
                            "claim_until": now + lease,
                            "message_id": message_id(
                                org, sid, content.day, self.settings.message_id_domain
                            ),
                            "attempts": {"$add": [{"$ifNull": ["$attempts", 0]}, 1]},
                            "interrupted_attempts": {
                                "$add": [
                                    {"$ifNull": ["$interrupted_attempts", 0]},
                                    {"$cond": [was_sending, 1, 0]},
                                ]
                            },
                            "first_attempt_at": {"$ifNull": ["$first_attempt_at", now]},
                            "last_attempt_at": now,
                            "content": {"$literal": content.record()},
                        }
                    }
                ],
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None

    def _email(self, s: _Send) -> OutgoingEmail:
        return build_email(
            s.content,
            self.renderer.render(s.content, s.timezone),
            to=s.to,
            from_address=self.settings.from_address,
            domain=self.settings.message_id_domain,
            dated=s.dated,
        )

    async def _record(self, s: _Send, outcome: SmtpOutcome, uow: UnitOfWork) -> None:
        db, now, settings = uow.db, uow.now, self.settings
        mine = {"_id": s.key, "claimed_by": s.token}
        unset = {"claimed_by": "", "claim_until": ""}
        if outcome.accepted:
            await db[DIGESTS].update_one(
                {"_id": s.key, "state": "sending"},
                {"$set": {"state": "sent", "sent_at": now}, "$unset": unset},
            )
            log.info("digest_sent", key=s.key, attempt=s.attempt)
            return
        if outcome.permanent or s.attempt >= settings.digest_max_attempts:
            await db[DIGESTS].update_one(
                mine,
                {
                    "$set": {"state": "failed", "failed_at": now, "last_error": outcome.reason},
                    "$unset": unset,
                },
            )
            log.error("digest_failed", key=s.key, error=outcome.reason[:300])
            return
        await db[DIGESTS].update_one(
            mine, {"$set": {"state": "retry", "last_error": outcome.reason}, "$unset": unset}
        )
        delay = timedelta(seconds=settings.digest_retry_seconds * 2 ** (s.attempt - 1))
        uow.schedule(
            f"{s.key}:retry:{s.attempt + 1}",
            now + delay,
            DIGEST,
            {**s.timer.payload, "attempt": s.attempt + 1},
            replace=False,
        )


def _base(org: str, sid: str, day: str) -> Document:
    return {"organisation_id": org, "seller_id": sid, "day": day}


async def _skip(db: AsyncDatabase[Document], key: str, base: Document, reason: str) -> None:
    """No digest for this day, and why (organisation off, opted out, no email, stale,
    nothing to do)."""
    try:
        await db[DIGESTS].update_one(
            {"_id": key, "state": {"$nin": ["sent", "sending"]}},
            {"$set": {**base, "state": "skipped", "reason": reason}},
            upsert=True,
        )
    except DuplicateKeyError:
        pass  # being sent or sent: that stands
