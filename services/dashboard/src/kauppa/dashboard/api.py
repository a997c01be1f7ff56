"""The dashboard's HTTP side: the web UI (static files, no CDN) and its JSON API.

Viewing needs the ``ops`` role; replaying dead letters needs ``admin``. A token that
carries an organisation (``org`` claim) sees only that organisation's numbers."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, Template, select_autoescape
from kauppa.contracts.bounds import ID_MAX
from kauppa.dashboard import repository
from kauppa.dashboard.deadletter_desk import (
    list_dead_letters,
    replay_dead_letters,
    visible_dead_letter,
)
from kauppa.dashboard.domain.periods import Period, period_start
from kauppa.dashboard.health import health_board_of, own_health
from kauppa.dashboard.settings import DashboardSettings
from kauppa.dashboard.what_if import (
    WHAT_IF_MAX_LEADS,
    WHAT_IF_MAX_WEEKS,
    SellerChange,
    Upstream,
    WhatIfResult,
    forward_what_if,
)
from kauppa.servicekit.auth import Principal, organisation_in_scope, require
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import ID_PATTERN, SafeId
from kauppa.servicekit.openapi import AUTHENTICATED, errors
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter()
STATIC = resources.files("kauppa.dashboard") / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
_templates = Environment(autoescape=select_autoescape(["html"]))

Ops = Annotated[Principal, Depends(require("ops"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class MeOut(BaseModel):
    subject: str
    roles: list[str]
    organisation_id: str | None
    can_replay: bool


class OverviewOut(BaseModel):
    """Funnel, lead quality, SLA, stale deals, confirmations, contacts: see the README."""

    model_config = ConfigDict(extra="allow")
    period: Period


class HealthOut(BaseModel):
    services: list[dict[str, Any]]


class DeadLettersOut(BaseModel):
    service: str
    dead_letters: list[dict[str, Any]]


class ReplayOut(BaseModel):
    service: str
    replayed: list[str]


def _settings(request: Request) -> DashboardSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, DashboardSettings)
    return settings


def _organisation(principal: Principal, org: str | None) -> str | None:
    """A tenant-bound token sees its own organisation only; a platform token may choose
    one, or see them all (None)."""
    if principal.organisation_id:
        return organisation_in_scope(principal, org)
    return org or None


# ----------------------------------------------------------------------------- the UI
# The package's files do not change while the process runs: read (and compile) once.


@cache
def _index_template() -> Template:
    return _templates.from_string((STATIC / "index.html").read_text(encoding="utf-8"))


@cache
def _asset_bytes(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/", response_class=HTMLResponse, tags=["ui"])
async def index(request: Request) -> HTMLResponse:
    """The single page; it logs in with a token and polls the JSON API."""
    s = _settings(request)
    return HTMLResponse(_index_template().render(poll_interval_ms=s.poll_interval_ms))


@router.get(
    "/static/{name}",
    tags=["ui"],
    response_class=Response,
    responses={
        200: {
            "description": "The file (app.js, style.css, favicon.svg)",
            "content": {mt: {"schema": {"type": "string"}} for mt in ASSETS.values()},
        },
        **errors(404),
    },
)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return Response(_asset_bytes(name), media_type=ASSETS[name])


# --------------------------------------------------------------------------- the API


@router.get("/api/me", tags=["dashboard"], response_model=MeOut, responses=AUTHENTICATED)
async def me(principal: Ops) -> dict[str, Any]:
    """Who the token is: the UI shows the name and offers replay to admins only."""
    return {
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "organisation_id": principal.organisation_id,
        "can_replay": principal.has("admin"),
    }


@router.get(
    "/api/overview", tags=["dashboard"], response_model=OverviewOut, responses=AUTHENTICATED
)
async def overview(
    request: Request,
    principal: Ops,
    period: Period = Period.WEEK,
    org: Annotated[
        str | None,
        Query(
            max_length=ID_MAX,
            pattern=f"^$|{ID_PATTERN}",
            description="Organisation (tenant); all if empty",
        ),
    ] = None,
    stale_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    """Funnel, lead quality, handoff SLA, stale deals, confirmations, contacts per
    seller and customers without a next contact, for the chosen period."""
    runtime, s = runtime_of(request), _settings(request)
    now = runtime.clock.now()
    view = repository.View(
        _organisation(principal, org), period_start(period, now, s.display_timezone), now
    )
    result = await repository.overview(
        runtime.db,
        view,
        stale_days=stale_days or s.stale_deal_days,
        overdue_after=timedelta(hours=s.contact_overdue_after_hours),
        next_contact_grace=timedelta(minutes=s.next_contact_grace_minutes),
    )
    return {"period": period.value, **result}


@router.get("/api/health", tags=["dashboard"], response_model=HealthOut, responses=AUTHENTICATED)
async def health(request: Request, principal: Ops) -> dict[str, Any]:
    """Per service: readiness, consumer lag, dead letters, outbox backlog."""
    runtime = runtime_of(request)
    services = await health_board_of(runtime).services()
    mine = await own_health(runtime)
    return {"services": [h.as_dict() for h in [*services, mine]]}


def _known_service(request: Request, service: str) -> str:
    if service != runtime_of(request).name and service not in _settings(request).service_urls:
        raise HTTPException(404, f"unknown service {service!r}")
    return service


@router.get(
    "/api/deadletters/{service}",
    tags=["dashboard"],
    response_model=DeadLettersOut,
    responses={**AUTHENTICATED, **errors(404)},
)
async def dead_letters(request: Request, service: str, principal: Ops) -> dict[str, Any]:
    """The records in the service's dead-letter topic, with the reason of each: those of
    the token's organisation (its event names it); letters whose organisation cannot be
    read, to platform admins only."""
    runtime = runtime_of(request)
    letters = await list_dead_letters(
        runtime, _known_service(request, service), visible_dead_letter(principal)
    )
    return {"service": service, "dead_letters": letters}


@router.post(
    "/api/deadletters/{service}/replay",
    tags=["dashboard"],
    response_model=ReplayOut,
    responses={**AUTHENTICATED, **errors(404)},
)
async def replay(
    request: Request,
    service: str,
    principal: Admin,
    ids: Annotated[
        list[Annotated[str, Field(max_length=200)]] | None,
        Body(embed=True, max_length=1_000, description="Default: every one not replayed yet"),
    ] = None,
) -> JSONResponse:
    """Admin: re-publish dead letters to their origin topics (all not yet replayed, or
    the given ids). Each dead letter is claimed by one request only, so clicks (retried or
    concurrent) never send it twice; with an ``Idempotency-Key`` a retry gets the first
    answer. A tenant-bound admin replays its organisation's letters only (other ids are
    ignored as unknown); letters whose organisation cannot be read, platform admins."""
    runtime = runtime_of(request)
    _known_service(request, service)
    return await replay_dead_letters(
        runtime,
        service,
        ids,
        principal.subject,
        lambda claim: idempotent_command(request, principal, claim),
        visible_dead_letter(principal),
    )


class WhatIfProposal(BaseModel):
    """A proposed roster, as handoff's ``POST /what-if`` takes it: the organisation's
    current roster with these sellers added or changed and these removed."""

    organisation_id: SafeId | None = Field(None, description="Default: the token's organisation")
    weeks: int = Field(4, ge=1, le=WHAT_IF_MAX_WEEKS, description="Replay the last N weeks")
    max_leads: int = Field(WHAT_IF_MAX_LEADS, ge=1, le=WHAT_IF_MAX_LEADS)
    sellers: dict[SafeId, SellerChange] = Field(
        default_factory=dict,
        max_length=1000,
        description="Sellers added or changed: only the fields given change (a new seller "
        "starts from the defaults)",
    )
    remove: list[SafeId] = Field(default_factory=list, max_length=1000)


@router.post(
    "/api/what-if",
    tags=["dashboard"],
    response_model=WhatIfResult,
    responses={**AUTHENTICATED, **errors(503)},
)
async def what_if(request: Request, principal: Ops, proposal: WhatIfProposal) -> Any:
    """Routing what-if for one organisation: the proposal goes to handoff's
    ``POST /what-if`` with the caller's own token, and its answer comes back (leads per
    seller, actual beside proposed; leads that change owner; leads nobody could take and
    why). Handoff's refusals (401, 403, 422) are passed on; 503 when it does not answer."""
    settings = _settings(request)
    body = proposal.model_dump(mode="json", exclude_unset=True)
    body["sellers"] = {
        k: v.model_dump(mode="json", exclude_unset=True) for k, v in proposal.sellers.items()
    }
    body["organisation_id"] = organisation_in_scope(principal, proposal.organisation_id)
    try:
        return await forward_what_if(
            settings.service_urls.get("handoff"),
            request.headers["authorization"],
            body,
            settings.what_if_timeout_seconds,
        )
    except Upstream as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
