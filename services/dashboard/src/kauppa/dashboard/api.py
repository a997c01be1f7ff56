"""The dashboard's HTTP side: the web UI (static files, no CDN) and its JSON API.

Viewing needs the ``ops`` role; replaying dead letters needs ``admin``. A token that
carries an organisation (``org`` claim) sees only that organisation's numbers."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, select_autoescape
from kauppa.dashboard import queries
from kauppa.dashboard.deadletter_desk import list_dead_letters, replay_dead_letters
from kauppa.dashboard.domain.periods import Period, period_start
from kauppa.dashboard.health import HealthBoard, own_health
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.auth import Principal, organisation_in_scope, require
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork

router = APIRouter()
STATIC = resources.files("kauppa.dashboard") / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
_templates = Environment(autoescape=select_autoescape(["html"]))

Ops = Annotated[Principal, Depends(require("ops"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _settings(runtime: ServiceRuntime) -> DashboardSettings:
    settings = runtime.settings
    assert isinstance(settings, DashboardSettings)
    return settings


def _organisation(principal: Principal, org: str | None) -> str | None:
    """A tenant-bound token sees its own organisation only; a platform token may choose
    one, or see them all (None)."""
    if principal.organisation_id:
        return organisation_in_scope(principal, org)
    return org or None


def _health_board(request: Request) -> HealthBoard:
    board: HealthBoard | None = getattr(request.app.state, "health_board", None)
    if board is None:
        s = _settings(runtime_of(request))
        board = HealthBoard(s.service_urls, s.scrape_timeout_seconds, s.scrape_cache_seconds)
        request.app.state.health_board = board
    return board


# ----------------------------------------------------------------------------- the UI


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    """The single page; it logs in with a token and polls the JSON API."""
    s = _settings(runtime_of(request))
    template = _templates.from_string((STATIC / "index.html").read_text(encoding="utf-8"))
    return HTMLResponse(template.render(poll_interval_ms=s.poll_interval_ms))


@router.get("/static/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name])


# --------------------------------------------------------------------------- the API


@router.get("/api/me", tags=["dashboard"])
async def me(principal: Ops) -> dict[str, Any]:
    """Who the token is: the UI shows the name and offers replay to admins only."""
    return {
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "organisation_id": principal.organisation_id,
        "can_replay": principal.has("admin"),
    }


@router.get("/api/overview", tags=["dashboard"])
async def overview(
    request: Request,
    principal: Ops,
    period: Period = Period.WEEK,
    org: Annotated[str | None, Query(description="Organisation (tenant); all if empty")] = None,
    stale_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    """Funnel, lead quality, handoff SLA, stale deals, confirmations, contacts per
    seller and customers without a next contact, for the chosen period."""
    runtime = runtime_of(request)
    s = _settings(runtime)
    now = runtime.clock.now()
    view = queries.View(
        _organisation(principal, org), period_start(period, now, s.display_timezone), now
    )
    result = await queries.overview(
        runtime.db,
        view,
        stale_days=stale_days or s.stale_deal_days,
        overdue_after=timedelta(hours=s.contact_overdue_after_hours),
        next_contact_grace=timedelta(minutes=s.next_contact_grace_minutes),
    )
    return {"period": period.value, **result}


@router.get("/api/health", tags=["dashboard"])
async def health(request: Request, principal: Ops) -> dict[str, Any]:
    """Per service: readiness, consumer lag, dead letters, outbox backlog."""
    runtime = runtime_of(request)
    services = await _health_board(request).services()
    mine = await own_health(runtime)
    return {"services": [h.as_dict() for h in [*services, mine]]}


def _known_service(request: Request, service: str) -> str:
    runtime = runtime_of(request)
    if service != runtime.name and service not in _settings(runtime).service_urls:
        raise HTTPException(404, f"unknown service {service!r}")
    return service


@router.get("/api/deadletters/{service}", tags=["dashboard"])
async def dead_letters(request: Request, service: str, principal: Ops) -> dict[str, Any]:
    """The records in the service's dead-letter topic, with the reason of each."""
    runtime = runtime_of(request)
    letters = await list_dead_letters(runtime, _known_service(request, service))
    return {"service": service, "dead_letters": letters}


@router.post("/api/deadletters/{service}/replay", tags=["dashboard"])
async def replay(
    request: Request,
    service: str,
    principal: Admin,
    ids: Annotated[list[str] | None, Body(embed=True)] = None,
) -> JSONResponse:
    """Admin: re-publish dead letters to their origin topics (all not yet replayed, or
    the given ids). Send an ``Idempotency-Key`` so a retried click replays nothing twice."""
    runtime = runtime_of(request)
    _known_service(request, service)

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        return await replay_dead_letters(runtime, service, ids, principal.subject, uow)

    return await idempotent_command(request, principal, work)
