"""HTTP: sellers log contacts; ops classify, query segments, run campaigns and audits;
everyone reads agendas and histories.

Tenant scope: a token bound to an organisation (its ``org`` claim) names only its own
organisation (403 otherwise), sees only its own customers and campaigns (another's are
404), and lists (agendas, the audit) only its own; a platform token acts in any."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from kauppa.contracts.bounds import DERIVED_ID_MAX, DERIVED_ID_PATTERN, MAX_ITEMS, Id, Text
from kauppa.contracts.events.common import Referral
from kauppa.contracts.events.customers import (
    CustomerAttributes,
    CustomerContactReported,
    SegmentCriteria,
)
from kauppa.followup import campaigns, commands
from kauppa.followup.audit import audit_gauge, latest_audit, run_audit
from kauppa.followup.domain.relationship import RelationshipErased
from kauppa.followup.domain.segments import segment_filter
from kauppa.followup.repository import CAMPAIGNS, CONTACTS, CUSTOMERS, REPORTS, Relationships
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    owned_by,
    require,
    seller_in_scope,
    visible_to,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import SafeId
from kauppa.servicekit.openapi import Day, Integer, Timestamp, api_router, errors, not_a_boolean
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

router = api_router(tags=["followup"])
Seller = Annotated[Principal, Depends(require("seller"))]
Ops = Annotated[Principal, Depends(require("ops"))]
Reader = Annotated[Principal, Depends(require("seller", "ops"))]


class ContactReport(BaseModel):
    """What the seller records right after a contact (D13-D15). Its bounds are within
    those of ``CustomerContactReported``, which this becomes."""

    # Ids as the contract has them (``CustomerContactReported``): a value the event
    # would refuse is 422 here, never a 500 when the event is built.
    contact_id: Id | None = Field(None, description="The ContactDue this answers, if any")
    contacted_at: Timestamp | None = None
    delivery_ok: bool | None = None
    problems: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50
    )
    resolved_problem_ids: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)
    upsell_interest: bool = False
    referrals: list[Referral] = Field(default_factory=list, max_length=50)
    next_contact_on: Day | None = Field(None, description="Empty: the service picks a default")
    notes: Text | None = None


CustomerPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=DERIVED_ID_MAX,
        pattern=DERIVED_ID_PATTERN,
        description="The customer's id (e.g. cust-<organisation>-<company key>)",
    ),
]


class AttributesIn(CustomerAttributes):
    customer_since: Day | None = Field(
        None, description="When the relationship began, if older than the deals Kauppa saw (D14)"
    )


class Classification(BaseModel):
    organisation_id: SafeId
    attributes: AttributesIn


# Constraints first: after a validator, pydantic documents them as ge/le, not min/max.
Month = Annotated[int, Field(ge=1, le=12), BeforeValidator(not_a_boolean)]


class CriteriaIn(SegmentCriteria):
    renewal_months: list[Month] = Field(default_factory=list, max_length=12)


class SegmentQuery(BaseModel):
    organisation_id: SafeId
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    limit: Integer = Field(100, ge=0, le=1000)


class CampaignCommand(BaseModel):
    """All customers matching ``criteria``, contacted for ``reason``, due on a date or
    spread over a window (D17)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["due_on"], "properties": {"due_on": {"type": "string"}}},
                {"required": ["due_from"], "properties": {"due_from": {"type": "string"}}},
            ]
        }
    )
    campaign_id: SafeId
    organisation_id: SafeId
    criteria: CriteriaIn
    reason: str = Field(min_length=1, max_length=500)
    due_on: Day | None = None
    due_from: Timestamp | None = Field(None, description="Without due_on: from when")
    due_until: Timestamp | None = Field(None, description="With due_from; default: due_from")


Limit = Annotated[int, Query(ge=1, le=1000)]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContactLoggedOut(Open):
    """What was recorded and the next contact (``duplicate``: the report was in already)."""

    report_id: str
    duplicate: bool = False


class ClassificationOut(BaseModel):
    customer_id: str
    attributes: dict[str, Any]


class CustomerOut(Open):
    """The customer's relationship record: seller, products, contacts, problems."""

    organisation_id: str


class HistoryOut(BaseModel):
    customer_id: str
    contacts: list[dict[str, Any]]
    reports: list[dict[str, Any]]


class AgendaOut(BaseModel):
    organisation_id: str
    seller_id: str
    when: Literal["upcoming", "overdue"]
    contacts: list[dict[str, Any]]


class SegmentOut(BaseModel):
    count: int = Field(description="Every matching customer")
    customers: list[dict[str, Any]] = Field(description="The first ``limit`` of them")


class CampaignOut(Open):
    campaign_id: str
    organisation_id: str
    state: str
    created: bool | None = Field(None, description="Started by this request")


class AuditOut(Open):
    at: datetime | None
    total: int | None
    violations: dict[str, int] | None = None
    repaired: int | None = None


def _settings(request: Request) -> FollowupSettings:
    return runtime_of(request).settings  # type: ignore[return-value]


def _visible(principal: Principal, customer: Document | None) -> None:
    """404 for a customer of another organisation than a tenant-bound token's (and, to
    such a token, for one not known here at all)."""
    visible_to(principal, customer["organisation_id"] if customer else None, "customer")


def _owned(principal: Principal, customer: Document | None) -> Document:
    """The kit's object rule (``Principal.may_see``): ops and admin see their
    organisation's customers, a seller only their own (others are 404)."""
    if customer is None:
        raise HTTPException(404, "no such customer")
    owned_by(principal, customer["organisation_id"], customer.get("seller_id"), "customer")
    return customer


def _public(doc: Document) -> Document:
    # A customer's _id is its customer_id; contacts and reports name theirs (and contacts
    # carry organisation_id too, so that cannot tell them apart).
    doc = dict(doc)
    doc["id" if "customer_id" in doc else "customer_id"] = doc.pop("_id")
    return doc


@router.post(
    "/customers/{customer_id}/contacts",
    status_code=201,
    response_model=ContactLoggedOut,
    responses=errors(404),
)
async def log_contact(
    customer_id: CustomerPath, body: ContactReport, request: Request, principal: Seller
) -> JSONResponse:
    """Log a contact's outcome and the next contact date (Idempotency-Key honoured). The
    customer's own seller logs (ops and admin of the organisation too); ``contact_id``
    closes a scheduled contact of this customer only. The report id derived from an
    Idempotency-Key is scoped to the caller and the customer."""
    key = request.headers.get("Idempotency-Key")
    report_id = (
        f"rep-{uuid.uuid5(uuid.NAMESPACE_URL, f'{principal.scope}|{customer_id}|{key}').hex[:20]}"
        if key
        else f"rep-{uuid.uuid4().hex[:20]}"
    )

    async def work(uow: UnitOfWork) -> Document:
        try:
            report = CustomerContactReported(
                report_id=report_id,
                customer_id=customer_id,
                seller_id=principal.subject,
                contacted_at=body.contacted_at or uow.now,
                **body.model_dump(exclude={"contacted_at"}),
            )
        except ValidationError as exc:
            if any(e["loc"][:1] == ("customer_id",) for e in exc.errors()):
                # Not an id any event can carry: no such customer here.
                raise HTTPException(404, f"unknown customer {customer_id}") from exc
            issues = exc.errors(include_url=False, include_context=False)
            raise HTTPException(422, jsonable_encoder(issues)) from exc
        relationships = uow.repository(Relationships)
        await relationships.load([customer_id])
        known = relationships.get(customer_id)
        _owned(principal, known.record if known else None)
        # Refused (ContactReportRefused: 404) for a customer erased meanwhile.
        result = await commands.log_contact(uow, report, commands.rules_of(_settings(request)))
        await relationships.save()
        return {**result, "_status": 201}

    return await idempotent_command(request, principal, work)


@router.put(
    "/customers/{customer_id}/attributes",
    response_model=ClassificationOut,
    responses=errors(404, 410),
)
async def classify(
    customer_id: CustomerPath, body: Classification, request: Request, principal: Ops
) -> JSONResponse:
    """Set the customer's classification for segments (D17)."""
    organisation_in_scope(principal, body.organisation_id)

    async def work(uow: UnitOfWork) -> Document:
        relationships = uow.repository(Relationships)
        await relationships.load([customer_id])
        known = relationships.get(customer_id)
        if known is not None:
            _visible(principal, known.record)
        try:
            await commands.classify(
                uow, customer_id, body.organisation_id, body.attributes.model_dump(mode="python")
            )
        except RelationshipErased as exc:
            raise HTTPException(410, exc.detail) from exc
        await relationships.save()
        return {"customer_id": customer_id, "attributes": body.attributes.model_dump(mode="json")}

    return await idempotent_command(request, principal, work)


@router.get("/customers/{customer_id}", response_model=CustomerOut, responses=errors(404))
async def customer_record(
    customer_id: CustomerPath, request: Request, principal: Reader
) -> Document:
    """The customer's record: its own seller, or ops and admin of its organisation."""
    doc = await runtime_of(request).db[CUSTOMERS].find_one({"_id": customer_id})
    return _public(_owned(principal, doc))


@router.get("/customers/{customer_id}/history", response_model=HistoryOut, responses=errors(404))
async def customer_history(
    customer_id: CustomerPath, request: Request, principal: Reader, limit: Limit = 100
) -> Document:
    """Scheduled and fired contacts, and what was logged, newest first: its own seller,
    or ops and admin of its organisation."""
    db = runtime_of(request).db
    # Reports carry no organisation: the customer's record decides (and nobody sees a
    # history of a customer unknown here).
    _owned(
        principal,
        await db[CUSTOMERS].find_one({"_id": customer_id}, {"organisation_id": 1, "seller_id": 1}),
    )
    contacts = (
        await db[CONTACTS]
        .find({"customer_id": customer_id})
        .sort("due_at", -1)
        .limit(limit)
        .to_list()
    )
    reports = (
        await db[REPORTS]
        .find({"customer_id": customer_id})
        .sort("contacted_at", -1)
        .limit(limit)
        .to_list()
    )
    return {
        "customer_id": customer_id,
        "contacts": [_public(c) for c in contacts],
        "reports": [_public(r) for r in reports],
    }


@router.get("/sellers/{seller_id}/contacts", response_model=AgendaOut)
async def seller_agenda(
    seller_id: SafeId,
    request: Request,
    principal: Reader,
    when: Literal["upcoming", "overdue"] = "upcoming",
    limit: Limit = 100,
    organisation_id: Annotated[
        SafeId | None, Query(description="The seller's organisation (default: the token's)")
    ] = None,
) -> Document:
    """Upcoming: scheduled and not yet due. Overdue: reminded but not logged yet.
    Seller ids are per organisation: the agenda is that of (organisation, seller); a
    platform token names the organisation (422 without it)."""
    seller_in_scope(principal, seller_id)
    org = organisation_in_scope(principal, organisation_id)
    db, now = runtime_of(request).db, runtime_of(request).clock.now()
    query: Document = {"organisation_id": org, "seller_id": seller_id}
    query.update(
        {"state": "scheduled", "due_at": {"$gte": now}} if when == "upcoming" else {"state": "due"}
    )
    docs = await db[CONTACTS].find(query).sort("due_at", 1).limit(limit).to_list()
    return {
        "organisation_id": org,
        "seller_id": seller_id,
        "when": when,
        "contacts": [_public(d) for d in docs],
    }


@router.post("/segments/query", response_model=SegmentOut)
async def query_segment(body: SegmentQuery, request: Request, principal: Ops) -> Document:
    """Customers matching the criteria (D17): how many, and the first ``limit``."""
    db = runtime_of(request).db
    query = segment_filter(organisation_in_scope(principal, body.organisation_id), body.criteria)
    count = await db[CUSTOMERS].count_documents(query)
    docs = await (
        db[CUSTOMERS]
        .find(
            query,
            {
                "company_name": 1,
                "seller_id": 1,
                "attributes": 1,
                "products_owned": 1,
                "organisation_id": 1,
            },
        )
        .sort("_id", 1)
        .limit(body.limit)
        .to_list()
    )
    return {"count": count, "customers": [_public(d) for d in docs]}


@router.post(
    "/campaigns",
    status_code=202,
    response_model=CampaignOut,
    responses={
        200: {"model": CampaignOut, "description": "Started before: its progress"},
        **errors(404),
    },
)
async def start_campaign(body: CampaignCommand, request: Request, principal: Ops) -> JSONResponse:
    """One ContactDue per matching customer, throttled; repeating the same campaign id
    changes nothing and returns its progress."""
    organisation_in_scope(principal, body.organisation_id)
    if body.due_on is not None:
        due_from = datetime.combine(body.due_on, time(0), tzinfo=UTC)
        due_until = datetime.combine(body.due_on, time(23, 59), tzinfo=UTC)
    elif body.due_from is not None:
        due_from, due_until = body.due_from, body.due_until or body.due_from
    else:
        raise HTTPException(422, "give due_on, or due_from (and optionally due_until)")

    async def work(uow: UnitOfWork) -> Document:
        state, created = await campaigns.start_campaign(
            uow,
            campaign_id=body.campaign_id,
            organisation_id=body.organisation_id,
            criteria=body.criteria,
            reason=body.reason,
            due_from=due_from,
            due_until=due_until,
        )
        if not created:  # a repeat (it wrote nothing): only the owner learns its progress
            visible_to(principal, state["organisation_id"], "campaign")
        return {**state, "created": created, "_status": 202 if created else 200}

    response = await idempotent_command(request, principal, work)
    runtime_of(request).timers.wake()
    return response


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=errors(404))
async def campaign_progress(campaign_id: str, request: Request, principal: Ops) -> Document:
    doc = await runtime_of(request).db[CAMPAIGNS].find_one({"_id": campaign_id})
    if doc is None:
        raise HTTPException(404, f"unknown campaign {campaign_id}")
    visible_to(principal, doc["organisation_id"], "campaign")
    return campaigns.progress(doc)


@router.get("/audit", response_model=AuditOut)
async def audit_result(request: Request, principal: Ops) -> Document:
    """The latest invariant audit (D15/D16): violations must be 0. A tenant-bound token
    sees the latest audit of its own organisation (run with ``POST /audit``)."""
    latest = await latest_audit(runtime_of(request).db, principal.organisation_id)
    return latest or {"at": None, "total": None}


@router.post("/audit", response_model=AuditOut)
async def audit_now(request: Request, principal: Ops, repair: bool = True) -> JSONResponse:
    """Run the invariant audit now (and repair what it finds unless repair=false); a
    tenant-bound token audits (and repairs) its own organisation's customers only."""
    runtime = runtime_of(request)
    organisation_id = principal.organisation_id

    async def work(uow: UnitOfWork) -> Document:
        result = await run_audit(
            uow, _settings(request), repair=repair, organisation_id=organisation_id
        )
        return {k: v for k, v in result.items() if k != "_id"}

    response = await idempotent_command(request, principal, work)
    if organisation_id:
        return response  # the gauge is the whole service's audit, not one tenant's
    latest = await latest_audit(runtime.db)
    gauge = audit_gauge(runtime)
    if latest is not None and gauge is not None:
        gauge.record(latest["violations"])
    return response


# The seller's daily digest: its own module, served under this router.
from kauppa.followup.digest_api import router as digest_router  # noqa: E402

router.include_router(digest_router)
