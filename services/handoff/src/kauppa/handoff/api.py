"""HTTP API: event intake for upstream systems without Kafka, the seller roster (ops),
sellers' verdicts, the unassigned queue, and source quality (D2, D4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from kauppa.contracts import (
    DecodeError,
    Envelope,
    LeadQualified,
    ReturnReason,
    Verdict,
    from_http,
)
from kauppa.contracts.cloudevents import http_request_body
from kauppa.handoff.desk import ROSTER_CHANGED, HandoffDesk
from kauppa.handoff.domain.source_quality import DIMENSIONS, source_quality
from kauppa.handoff.domain.verdicts import LeadStatus, VerdictRefused
from kauppa.handoff.handlers import submit_verdict
from kauppa.handoff.settings import HandoffSettings
from kauppa.handoff.store import (
    LEADS,
    SELLERS,
    Roster,
    lead_facts,
    lead_view,
    seller_from,
    seller_key,
    seller_view,
)
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    owned_by,
    require,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import SafeId
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import AwareDatetime, BaseModel, Field, model_validator

router = APIRouter()
Document = dict[str, Any]

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


@router.post(
    "/intake/lead-qualified",
    status_code=202,
    tags=["intake"],
    openapi_extra={
        "requestBody": http_request_body(LeadQualified),
        "parameters": [
            {
                "name": header,
                "in": "header",
                "required": False,
                "description": f"Binary content mode: the CloudEvents `{attr}` attribute",
                "schema": {"type": "string"},
            }
            for header, attr in (
                ("ce-specversion", "specversion"),
                ("ce-id", "id"),
                ("ce-type", "type"),
                ("ce-source", "source"),
                ("ce-time", "time"),
            )
        ],
    },
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
    if len(received.events) > INTAKE_BATCH_MAX:
        raise HTTPException(413, f"at most {INTAKE_BATCH_MAX} events per batch")
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
    outcome = await runtime.pipeline.process_envelopes([env])
    return 202, {"id": env.id, "lead_id": env.event.lead_id, "duplicate": outcome.duplicates > 0}


# ------------------------------------------------------------------------------ roster


class AbsenceIn(BaseModel):
    start: AwareDatetime
    end: AwareDatetime | None = None


Short = Annotated[str, Field(max_length=100)]


class SellerProfileIn(BaseModel):
    organisation_id: SafeId
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


@router.put("/sellers/{seller_id}", tags=["roster"])
async def put_seller(
    seller_id: SafeId, profile: SellerProfileIn, request: Request, principal: Ops
) -> JSONResponse:
    """Add or change a seller of the organisation. Seller ids are per organisation:
    another organisation's seller of the same id is another seller. Queued leads the
    change makes assignable are assigned."""
    policy = _settings(request).sla_policy()
    organisation_in_scope(principal, profile.organisation_id)

    async def work(uow: UnitOfWork) -> Document:
        key = seller_key(profile.organisation_id, seller_id)
        existing = await uow.db[SELLERS].find_one({"_id": key}, session=uow.session)
        fields = {**profile.model_dump(), "seller_id": seller_id}
        fields["absences"] = [
            {"start": a.start.astimezone(UTC), "end": a.end.astimezone(UTC) if a.end else None}
            for a in profile.absences
        ]
        await uow.db[SELLERS].update_one(
            {"_id": key},
            {"$set": fields, "$setOnInsert": {"open_leads": 0, "last_assigned_seq": 0}},
            upsert=True,
            session=uow.session,
        )
        for absence in profile.absences:
            if absence.end is not None and absence.end > uow.now:
                uow.schedule(
                    f"absence-end:{key}:{absence.end.isoformat()}",
                    absence.end,
                    ROSTER_CHANGED,
                    {"organisation_id": profile.organisation_id},
                )
        roster = await Roster.load(uow.db, uow.session, [profile.organisation_id])
        assigned = await HandoffDesk(uow, roster, policy).drain_queue([profile.organisation_id])
        await roster.save(uow.db, uow.session)
        seller = roster.by_id[key]
        return {
            **seller_view(seller, uow.now),
            "queued_leads_assigned": [d["_id"] for d in assigned],
            "_status": 200 if existing else 201,
        }

    return await idempotent_command(request, principal, work)


@router.get("/sellers", tags=["roster"])
async def list_sellers(
    request: Request, principal: Ops, organisation_id: str | None = None
) -> list[Document]:
    """The organisation's roster (a tenant-bound token: its own, by default)."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    docs = runtime.db[SELLERS].find({"organisation_id": organisation_id}).sort("seller_id", 1)
    return [seller_view(seller_from(d), now) async for d in docs]


# ------------------------------------------------------------------------------ leads


@router.get("/queue", tags=["leads"])
async def unassigned_queue(
    request: Request, principal: Ops, organisation_id: str | None = None
) -> Document:
    """Leads waiting for an eligible seller, oldest first."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    db = runtime_of(request).db
    docs = (
        await db[LEADS]
        .find({"organisation_id": organisation_id, "status": LeadStatus.QUEUED})
        .sort("queued_at", 1)
        .limit(1000)
        .to_list()
    )
    leads = [lead_view(d) for d in docs]
    return {"organisation_id": organisation_id, "count": len(leads), "leads": leads}


@router.get("/leads/{lead_id}", tags=["leads"])
async def get_lead(lead_id: str, request: Request, principal: SellerOrOps) -> Document:
    doc = await runtime_of(request).db[LEADS].find_one({"_id": lead_id})
    if doc is None:
        raise HTTPException(404, "no such lead")
    owned_by(principal, doc["organisation_id"], doc.get("seller_id"), "lead")
    return lead_view(doc)


class VerdictIn(BaseModel):
    verdict: Verdict
    reason_code: ReturnReason | None = None
    reason_text: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _return_needs_reason(self) -> VerdictIn:
        if self.verdict == Verdict.RETURN and self.reason_code is None:
            raise ValueError("a returned lead needs a reason_code")
        return self


@router.post("/leads/{lead_id}/verdict", tags=["leads"])
async def give_verdict(
    lead_id: str, body: VerdictIn, request: Request, principal: Seller
) -> JSONResponse:
    """D3: the assigned seller accepts the lead or returns it with a reason. To any other
    seller the lead does not exist (404, whatever its state)."""
    policy = _settings(request).sla_policy()

    async def work(uow: UnitOfWork) -> Document:
        lead = await uow.db[LEADS].find_one(
            {"_id": lead_id}, {"organisation_id": 1, "seller_id": 1}, session=uow.session
        )
        if lead is None:
            raise HTTPException(404, "no such lead")
        owned_by(principal, lead["organisation_id"], lead.get("seller_id"), "lead")
        outcome = await submit_verdict(
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
        if isinstance(outcome, VerdictRefused):
            raise HTTPException(404 if outcome.reason == "unknown lead" else 409, outcome.reason)
        return lead_view(outcome)

    return await idempotent_command(request, principal, work)


# ------------------------------------------------------------------------------ quality


@router.get("/stats/sources", tags=["quality"])
async def source_quality_report(
    request: Request,
    principal: Ops,
    organisation_id: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Leads received from")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Leads received before")] = None,
    by: Annotated[list[str] | None, Query(description="system, partner, campaign, booker")] = None,
) -> Document:
    """D2/D4: per source, partner, list/campaign and booker, for leads received in the
    period: what came in, what the gate refused and why, what sellers accepted or
    returned and why, what closed; rates and time to verdict."""
    organisation_id = organisation_in_scope(principal, organisation_id)
    dims = by or list(DIMENSIONS)
    if unknown := [d for d in dims if d not in DIMENSIONS]:
        raise HTTPException(422, f"unknown dimension(s): {', '.join(unknown)}")
    received: Document = {}
    if since is not None:
        received["$gte"] = since.astimezone(UTC)
    if until is not None:
        received["$lt"] = until.astimezone(UTC)
    query: Document = {"organisation_id": organisation_id}
    if received:
        query["received_at"] = received
    db = runtime_of(request).db
    facts = [lead_facts(d) async for d in db[LEADS].find(query, {"prospect": 0, "criteria": 0})]
    rows = source_quality(facts, dims)
    return {
        "organisation_id": organisation_id,
        "since": since,
        "until": until,
        "generated_at": datetime.now(UTC),
        "leads": len(facts),
        "sources": [r.as_dict() for r in rows],
    }
