"""HTTP API: event intake for upstream systems without Kafka, the seller roster (ops),
sellers' verdicts, the unassigned queue, and source quality (D2, D4)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from kauppa.contracts import (
    DecodeError,
    Envelope,
    LeadQualified,
    ReturnReason,
    Verdict,
    from_http,
)
from kauppa.contracts.bounds import SHORT_TEXT_MAX, URL_MAX
from kauppa.handoff.commands import change_seller, hand_in_lead, take_verdict
from kauppa.handoff.domain.routing import Absence
from kauppa.handoff.domain.routing import Seller as RosterSeller
from kauppa.handoff.domain.source_quality import DIMENSIONS, source_quality
from kauppa.handoff.domain.what_if import what_if
from kauppa.handoff.repository import (
    Document,
    HandoffRepository,
    find_lead,
    lead_facts_received,
    lead_view,
    queued_leads,
    routed_lead,
    routed_leads,
    seller_view,
    sellers_of,
)
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    owned_by,
    require,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import OrganisationQuery, SafeId
from kauppa.servicekit.openapi import Timestamp, api_router, errors, request_body
from kauppa.servicekit.refusals import NotFound
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

router = api_router()

Intake = Annotated[Principal, Depends(require("intake", "admin"))]
Ops = Annotated[Principal, Depends(require("ops"))]
SellerOrOps = Annotated[Principal, Depends(require("seller", "ops"))]
Seller = Annotated[Principal, Depends(require("seller"))]


def _settings(request: Request) -> HandoffSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, HandoffSettings)
    return settings


# ------------------------------------------------------------------------------ intake


INTAKE_BATCH_MAX = 1000


class LeadQualifiedCloudEvent(BaseModel):
    """A ``LeadQualified`` as a CloudEvents 1.0 structured JSON document; extension
    attributes (e.g. ``correlationid``, ``traceparent``) are allowed."""

    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=SHORT_TEXT_MAX)
    type: Literal["fi.kauppa.LeadQualified.v1"]
    source: str | None = Field(None, max_length=URL_MAX)
    time: AwareDatetime | None = None
    datacontenttype: str | None = Field(None, max_length=SHORT_TEXT_MAX)
    data: LeadQualified


class IntakeAccepted(BaseModel):
    id: str = Field(description="The CloudEvent id")
    lead_id: str
    duplicate: bool = Field(description="The id was taken in before: this changed nothing")


class IntakeResult(BaseModel):
    """One event's answer in a batch: the status it alone would get, and its answer."""

    model_config = ConfigDict(extra="allow")
    status: int
    id: str | None = None
    lead_id: str | None = None
    duplicate: bool | None = None
    detail: str | None = None


def _intake_body() -> dict[str, Any]:
    """Structured mode (also as plain JSON) and batched mode. Binary mode (``ce-*``
    headers, the lead's JSON as the body) is described in words: declared as a second
    ``application/json`` schema, a body without the headers would look valid. As plain
    ``application/json`` a structured event must name its ``specversion`` (that is how
    it is told from a binary-mode body without its headers)."""
    extra = request_body(
        LeadQualifiedCloudEvent, "application/cloudevents+json", "application/json"
    )
    content = extra["requestBody"]["content"]
    event = content["application/cloudevents+json"]["schema"]
    content["application/json"] = {"schema": {"allOf": [event, {"required": ["specversion"]}]}}
    # A batch's items are answered one by one (an unreadable one gets its 400 in its
    # place), so the batch takes any item: the event schema is what each one should be.
    item = {
        "description": "A structured LeadQualified CloudEvent; anything else is answered "
        "400 in its place",
        "anyOf": [event, {}],
    }
    content["application/cloudevents-batch+json"] = {
        "schema": {"type": "array", "items": item, "minItems": 1, "maxItems": INTAKE_BATCH_MAX}
    }
    return extra


@router.post(
    "/intake/lead-qualified",
    status_code=202,
    tags=["intake"],
    response_model=IntakeAccepted,
    responses={
        **errors(400, 413),
        207: {
            "description": "A batch: one result per event, in order",
            "model": list[IntakeResult],
        },
    },
    openapi_extra=_intake_body(),
)
async def take_in_lead(request: Request, principal: Intake) -> JSONResponse:
    """``LeadQualified`` CloudEvents in any HTTP content mode: binary (``ce-*`` headers,
    the lead's JSON as the body), structured (``application/cloudevents+json``) or
    batched (``application/cloudevents-batch+json``). One event is answered 202 (or
    400/403 saying why not); a batch is answered 207 with one result per event, in order,
    each with the status its event alone would get. Every mode goes through the same
    handlers and inbox as Kafka: the same event id by any route has one effect."""
    try:
        received = from_http(request.headers, await request.body())
    except DecodeError as exc:
        raise HTTPException(400, exc.message) from exc
    runtime = runtime_of(request)
    if received.mode != "batch":
        status, body = await _take_in(runtime, principal, received.events[0])
        if status != 202:
            raise HTTPException(status, body["detail"])
        return JSONResponse(body, status_code=202)
    if not received.events:
        raise HTTPException(400, "an empty batch: send at least one event")
    if len(received.events) > INTAKE_BATCH_MAX:
        raise HTTPException(400, f"a batch of at most {INTAKE_BATCH_MAX} events")
    results = []
    for decoded in received.events:
        status, body = await _take_in(runtime, principal, decoded)
        results.append({"status": status, **body})
    return JSONResponse(results, status_code=207)


async def _take_in(
    runtime: ServiceRuntime, principal: Principal, decoded: Envelope | DecodeError
) -> tuple[int, Document]:
    """One event of an intake request: its HTTP status and answer."""
    if isinstance(decoded, DecodeError):
        return 400, {"detail": decoded.message}
    env = decoded
    if not isinstance(env.event, LeadQualified):
        return 400, {"id": env.id, "detail": f"this endpoint takes LeadQualified, not {env.type}"}
    try:
        organisation_in_scope(principal, env.event.organisation_id)
    except HTTPException as exc:
        return exc.status_code, {"id": env.id, "detail": exc.detail}
    duplicate = await hand_in_lead(runtime, env)
    return 202, {"id": env.id, "lead_id": env.event.lead_id, "duplicate": duplicate}


# ------------------------------------------------------------------------------ roster


class AbsenceIn(BaseModel):
    start: Timestamp
    end: Timestamp | None = None


Short = Annotated[str, Field(max_length=100)]


class SellerProfileFields(BaseModel):
    name: str = Field("", max_length=200)
    team: str | None = Field(None, max_length=100)
    regions: list[Short] = Field(
        default_factory=list, max_length=200, description="Empty: every region"
    )
    products: list[Short] = Field(
        default_factory=list, max_length=500, description="Empty: every product line"
    )
    languages: list[Short] = Field(
        default_factory=list, max_length=50, description="e.g. fi, sv; empty: any"
    )
    capacity: int = Field(10, ge=0, le=100_000, description="Max open leads (awaiting a verdict)")
    active: bool = True
    absences: list[AbsenceIn] = Field(default_factory=list, max_length=100)


class SellerProfileIn(SellerProfileFields):
    organisation_id: SafeId


class AbsenceOut(BaseModel):
    start: datetime
    end: datetime | None


class SellerOut(BaseModel):
    seller_id: str
    organisation_id: str
    name: str
    team: str | None
    regions: list[str]
    products: list[str]
    languages: list[str]
    capacity: int
    active: bool
    absences: list[AbsenceOut]
    absent_now: bool
    open_leads: int


class SellerPut(SellerOut):
    queued_leads_assigned: list[str] = Field(description="Queued leads the change assigned")


class LeadOut(BaseModel):
    """A lead as the API shows it: its state, source, prospect and handoff history."""

    model_config = ConfigDict(extra="allow")
    lead_id: str
    organisation_id: str
    status: Literal["rejected", "linked", "queued", "assigned", "accepted", "returned"]
    seller_id: str | None = None


class QueueOut(BaseModel):
    organisation_id: str
    count: int
    leads: list[LeadOut]


class SourceQualityOut(BaseModel):
    organisation_id: str
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    leads: int = Field(description="Leads received in the period")
    sources: list[dict[str, Any]] = Field(description="One row per dimension and value")


Dimension = Literal["system", "partner", "campaign", "booker"]


@router.put(
    "/sellers/{seller_id}",
    tags=["roster"],
    response_model=SellerPut,
    responses={
        201: {"model": SellerPut, "description": "The seller was added"},
        **errors(404, 409),
    },
)
async def put_seller(
    seller_id: SafeId, profile: SellerProfileIn, request: Request, principal: Ops
) -> JSONResponse:
    """Add or change a seller of the organisation. Seller ids are per organisation:
    another organisation's seller of the same id is another seller. Queued leads the
    change makes assignable are assigned."""
    policy = _settings(request).sla_policy()
    organisation_in_scope(principal, profile.organisation_id)

    async def work(uow: UnitOfWork) -> Document:
        change = await change_seller(
            uow,
            policy,
            profile.organisation_id,
            seller_id,
            profile.model_dump(),
            [Absence(a.start, a.end) for a in profile.absences],
        )
        return {
            **seller_view(change.seller, uow.now),
            "queued_leads_assigned": change.assigned,
            "_status": 201 if change.added else 200,
        }

    return await idempotent_command(request, principal, work)


@router.get("/sellers", tags=["roster"], response_model=list[SellerOut])
async def list_sellers(
    request: Request, principal: Ops, organisation_id: OrganisationQuery = None
) -> list[Document]:
    """The organisation's roster (a tenant-bound token: its own, by default)."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    sellers = await sellers_of(runtime.db, organisation_id, by_id=True)
    return [seller_view(s, now) for s in sellers]


# ------------------------------------------------------------------------------ leads


@router.get("/queue", tags=["leads"], response_model=QueueOut)
async def unassigned_queue(
    request: Request, principal: Ops, organisation_id: OrganisationQuery = None
) -> Document:
    """Leads waiting for an eligible seller, oldest first."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    leads = [lead_view(d) for d in await queued_leads(runtime_of(request).db, organisation_id)]
    return {"organisation_id": organisation_id, "count": len(leads), "leads": leads}


@router.get("/leads/{lead_id}", tags=["leads"], response_model=LeadOut, responses=errors(404))
async def get_lead(lead_id: str, request: Request, principal: SellerOrOps) -> Document:
    doc = await find_lead(runtime_of(request).db, lead_id)
    if doc is None:
        raise NotFound("no such lead")
    owned_by(principal, doc["organisation_id"], doc.get("seller_id"), "lead")
    return lead_view(doc)


class AcceptIn(BaseModel):
    verdict: Literal[Verdict.ACCEPT]
    reason_code: ReturnReason | None = None
    reason_text: str | None = Field(None, max_length=2000)


class ReturnIn(BaseModel):
    verdict: Literal[Verdict.RETURN]
    reason_code: ReturnReason = Field(description="A returned lead needs a reason")
    reason_text: str | None = Field(None, max_length=2000)


VerdictIn = Annotated[AcceptIn | ReturnIn, Field(discriminator="verdict")]


@router.post(
    "/leads/{lead_id}/verdict", tags=["leads"], response_model=LeadOut, responses=errors(404, 409)
)
async def give_verdict(
    lead_id: str, body: VerdictIn, request: Request, principal: Seller
) -> JSONResponse:
    """D3: the assigned seller accepts the lead or returns it with a reason. To any other
    seller the lead does not exist (404, whatever its state)."""
    policy = _settings(request).sla_policy()

    async def work(uow: UnitOfWork) -> Document:
        owner = await uow.repository(HandoffRepository).owner_of(lead_id)
        if owner is None:
            raise NotFound("no such lead")
        owned_by(principal, *owner, "lead")
        lead = await take_verdict(
            uow,
            policy,
            lead_id=lead_id,
            seller_id=principal.subject,
            verdict=body.verdict,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            cause=None,
            organisation_id=principal.organisation_id,
        )
        return lead_view(lead.state)

    return await idempotent_command(request, principal, work)


# ------------------------------------------------------------------------------ quality


@router.get("/stats/sources", tags=["quality"], response_model=SourceQualityOut)
async def source_quality_report(
    request: Request,
    principal: Ops,
    organisation_id: OrganisationQuery = None,
    since: Annotated[Timestamp | None, Query(description="Leads received from")] = None,
    until: Annotated[Timestamp | None, Query(description="Leads received before")] = None,
    by: Annotated[
        list[Dimension] | None, Query(max_length=4, description="Default: every dimension")
    ] = None,
) -> Document:
    """D2/D4: per source, partner, list/campaign and booker, for leads received in the
    period: what came in, what the gate refused and why, what sellers accepted or
    returned and why, what closed; rates and time to verdict."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    dims: list[str] = list(by or DIMENSIONS)
    facts = await lead_facts_received(
        runtime_of(request).db,
        organisation_id,
        since.astimezone(UTC) if since is not None else None,
        until.astimezone(UTC) if until is not None else None,
    )
    rows = source_quality(facts, dims)
    return {
        "organisation_id": organisation_id,
        "since": since,
        "until": until,
        "generated_at": datetime.now(UTC),
        "leads": len(facts),
        "sources": [r.as_dict() for r in rows],
    }


# ------------------------------------------------------------------------------ what-if

WHAT_IF_MAX_WEEKS = 12
WHAT_IF_MAX_LEADS = 50_000


class WhatIfIn(BaseModel):
    """A proposed roster: the organisation's current one with these changes."""

    organisation_id: SafeId | None = Field(None, description="Default: the token's organisation")
    weeks: int = Field(4, ge=1, le=WHAT_IF_MAX_WEEKS, description="Replay the last N weeks")
    max_leads: int = Field(
        WHAT_IF_MAX_LEADS,
        ge=1,
        le=WHAT_IF_MAX_LEADS,
        description="At most this many leads (the most recent) are replayed",
    )
    sellers: dict[SafeId, SellerProfileFields] = Field(
        default_factory=dict,
        max_length=1000,
        description="Sellers added or changed: only the fields given change (a new seller "
        "starts from the defaults); lists and absences given replace the current ones",
    )
    remove: list[SafeId] = Field(default_factory=list, max_length=1000)


class SpreadOut(BaseModel):
    sellers: int
    min: int
    max: int
    mean: float
    stdev: float = Field(description="Population standard deviation of leads per seller")


class WhatIfSideOut(BaseModel):
    queued: int = Field(description="Leads that waited for a seller at least once")
    queued_by_reason: dict[str, int] = Field(description="By the last reason each waited")
    waiting: int = Field(description="Leads nobody holds at the end")
    waiting_by_reason: dict[str, int]
    reminders: int
    reassignments: int
    spread: SpreadOut


class SellerLoadOut(BaseModel):
    seller_id: str
    actual: int = Field(description="Leads that ended with the seller (verdict or held now)")
    proposed: int
    actual_assignments: int = Field(description="Assignments, a reassigned lead for each")
    proposed_assignments: int


class OwnerChangeOut(BaseModel):
    lead_id: str
    actual: str | None
    proposed: str | None
    proposed_reason: str | None = Field(description="Why it waits in the proposal")


class WhatIfOut(BaseModel):
    organisation_id: str
    since: datetime
    until: datetime
    leads: int = Field(description="Leads replayed (routed in the window)")
    truncated: bool = Field(description="More leads were routed in the window than max_leads")
    seconds: float = Field(description="Time the replay took")
    owner_changed: int
    first_seller_changed: int
    actual: WhatIfSideOut
    proposed: WhatIfSideOut
    sellers: list[SellerLoadOut]
    changes: list[OwnerChangeOut] = Field(description="The first 100, in arrival order")
    not_on_roster: list[str] = Field(description="Sellers to remove who are not on the roster")


def _proposed_roster(org: str, current: list[RosterSeller], body: WhatIfIn) -> list[RosterSeller]:
    base = SellerProfileFields()
    by_id = {s.seller_id: s for s in current if s.seller_id not in set(body.remove)}
    for seller_id, change in body.sellers.items():
        was = by_id.get(seller_id)
        fields = {
            k: getattr(was, k) if was is not None else getattr(base, k)
            for k in SellerProfileFields.model_fields
        }
        fields.update(change.model_dump(exclude_unset=True))
        if "absences" in change.model_fields_set:
            fields["absences"] = [
                Absence(a.start.astimezone(UTC), a.end.astimezone(UTC) if a.end else None)
                for a in change.absences
            ]
        by_id[seller_id] = RosterSeller(seller_id=seller_id, organisation_id=org, **fields)
    return list(by_id.values())


@router.post("/what-if", tags=["routing"], response_model=WhatIfOut)
async def routing_what_if(body: WhatIfIn, request: Request, principal: Ops) -> Document:
    """What would have happened to the organisation's leads of the last N weeks with a
    proposed roster: each lead routed in the window is replayed, in arrival order, through
    the live routing rules and SLA, capacity taken at assignment and freed at the lead's
    observed verdict time. Beside what actually happened: leads per seller and its
    spread, leads nobody could take and why, SLA reminders and reassignments, and which
    leads change owner. Bounded (12 weeks, 50,000 leads); writes nothing."""
    org = organisation_in_scope(principal, body.organisation_id)
    runtime = runtime_of(request)
    policy = _settings(request).sla_policy()
    until = runtime.clock.now()
    since = until - timedelta(weeks=body.weeks)
    db = runtime.db
    current = await sellers_of(db, org)
    proposed = _proposed_roster(org, current, body)
    docs = await routed_leads(db, org, since, until, limit=body.max_leads + 1)
    truncated = len(docs) > body.max_leads
    if truncated:  # the most recent max_leads: the window starts at the oldest of them
        docs = docs[: body.max_leads]
        since = docs[-1]["received_at"]
    leads = [routed_lead(d) for d in docs]
    started = time.perf_counter()
    # CPU only, bounded: off the event loop so health checks and other requests answer.
    result = await asyncio.to_thread(what_if, leads, current, proposed, policy, until)
    return {
        "organisation_id": org,
        "since": since,
        "until": until,
        "truncated": truncated,
        "not_on_roster": sorted(set(body.remove) - {s.seller_id for s in current}),
        "seconds": round(time.perf_counter() - started, 3),
        **result.as_dict(),
    }
