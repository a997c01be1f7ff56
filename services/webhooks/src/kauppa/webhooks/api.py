"""HTTP API (ops/admin): subscriptions, their secrets, deliveries and redelivery. Routes
only: what they change is in ``commands.py``, what they read in ``repository.py``.

Tenant scope: a token bound to an organisation (its ``org`` claim) sees and changes only
its own organisation's subscriptions (another's are 404); a platform token acts in any.
The signing secret is shown once, when created or rotated."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    require,
    tenant_filter,
    visible_to,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import SafeId
from kauppa.servicekit.openapi import Timestamp, api_router, errors, not_a_boolean
from kauppa.servicekit.refusals import NotFound
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks import commands, repository
from kauppa.webhooks.commands import check_target, sub_view
from kauppa.webhooks.domain.catalogue import DELIVERABLE_BY_NAME
from kauppa.webhooks.sender import sender_of
from kauppa.webhooks.settings import WebhooksSettings
from kauppa.webhooks.stats import subscription_stats
from pydantic import BaseModel, BeforeValidator, Field, field_validator

# Every route declares 401, 403 and 422 (the kit's ``api_router``); those naming a
# subscription also 404 (none, or another organisation's).
router = api_router(tags=["webhooks"])
ON_A_SUBSCRIPTION = errors(404)
SubscriptionId = Annotated[str, Path(max_length=128, description="The subscription's id")]
DeliveryId = Annotated[str, Path(max_length=300, description="The delivery's id")]
DeliveryState = Literal["pending", "delivering", "delivered"]
Hours = Annotated[float, Field(ge=0, le=24 * 30), BeforeValidator(not_a_boolean)]
# A receiver URL as the schema can say it: http(s), a host name or IPv4 address (no
# credentials: no ``@`` before the path; no IPv6 literal: name the host), an optional
# port, then printable ASCII.
# What the schema cannot say (https only and public addresses outside the local
# profile) is checked by ``check_target`` and refused with 422.
URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$"
EventTypeName = Annotated[
    str, Field(max_length=128, json_schema_extra={"enum": list(DELIVERABLE_BY_NAME)})
]
Ops = Annotated[Principal, Depends(require("ops"))]

_DELIVERY_FIELDS = (
    "subscription_id",
    "event_id",
    "event_type",
    "key",
    "state",
    "attempts",
    "created_at",
    "event_time",
    "next_attempt_at",
    "last_attempt_at",
    "delivered_at",
    "last_status",
    "last_error",
    "redelivered_at",
)


def delivery_view(doc: Document) -> Document:
    return {"delivery_id": doc["_id"], **{k: doc.get(k) for k in _DELIVERY_FIELDS if k in doc}}


class Filters(BaseModel):
    source_system: str | None = Field(
        None, min_length=1, max_length=256, description="LeadSource.system"
    )
    partner: str | None = Field(
        None, min_length=1, max_length=256, description="LeadSource.partner"
    )
    seller_id: str | None = Field(None, min_length=1, max_length=128)


class SubscriptionBody(BaseModel):
    organisation_id: SafeId | None = None
    url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=URL_PATTERN,
        description="The receiver: https (http too in the local profile), no credentials; "
        "outside the local profile its host must resolve to public addresses only (SSRF). "
        "A URL breaking these rules is refused with 422.",
    )
    event_types: list[EventTypeName] = Field(
        min_length=1, max_length=100, description="Event type names, e.g. LeadAssigned"
    )
    filters: Filters = Field(default_factory=Filters)
    description: str | None = Field(None, max_length=500)
    active: bool = True

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DELIVERABLE_BY_NAME))
        if unknown:
            raise ValueError(
                f"not deliverable: {', '.join(unknown)}; one of {', '.join(DELIVERABLE_BY_NAME)}"
            )
        return sorted(set(value))


def _settings(request: Request) -> WebhooksSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, WebhooksSettings)
    return settings


def _wake(request: Request) -> None:
    sender = sender_of(runtime_of(request))
    if sender is not None:
        sender.wake()


@router.get("/event-types")
async def event_types(principal: Ops) -> list[Document]:
    """What a subscription may ask for."""
    return [
        {"event_type": name, "cloudevents_type": cls.ce_type(), "meaning": cls.meaning}
        for name, cls in DELIVERABLE_BY_NAME.items()
    ]


@router.post("/subscriptions", status_code=201)
async def create_subscription(
    body: SubscriptionBody, request: Request, principal: Ops
) -> JSONResponse:
    """Register a receiver. The answer holds the signing secret: it is shown only now."""
    organisation_id = organisation_in_scope(principal, body.organisation_id)
    await check_target(_settings(request), body.url)

    fields = {
        "url": body.url,
        "description": body.description,
        "event_types": body.event_types,
        "filters": body.filters.model_dump(),
    }

    async def work(uow: UnitOfWork) -> Document:
        return await commands.create_subscription(
            uow, principal, organisation_id, fields, active=body.active
        )

    return await idempotent_command(request, principal, work)


@router.get("/subscriptions")
async def list_subscriptions(request: Request, principal: Ops) -> list[Document]:
    db = runtime_of(request).db
    docs = await repository.subscriptions(db, tenant_filter(principal), oldest_first=True)
    return [sub_view(d) for d in docs]


@router.get("/subscriptions/{sub_id}", responses=ON_A_SUBSCRIPTION)
async def get_subscription(sub_id: SubscriptionId, request: Request, principal: Ops) -> Document:
    doc = await repository.subscription(runtime_of(request).db, sub_id)
    if doc is None:
        raise NotFound("no such subscription")
    visible_to(principal, doc["organisation_id"], "subscription")
    return sub_view(doc)


class RotateBody(BaseModel):
    overlap_hours: Hours | None = None


@router.post("/subscriptions/{sub_id}/rotate-secret", responses=ON_A_SUBSCRIPTION)
async def rotate_secret(
    sub_id: SubscriptionId, request: Request, principal: Ops, body: RotateBody | None = None
) -> JSONResponse:
    """A new secret (shown once). The old ones keep signing beside it for the overlap
    (default ``WEBHOOKS_ROTATION_OVERLAP_HOURS``): each request carries one ``v1,``
    signature per secret, so the receiver can switch at its own pace."""
    asked = body.overlap_hours if body is not None else None
    hours = asked if asked is not None else _settings(request).rotation_overlap_hours

    async def work(uow: UnitOfWork) -> Document:
        return await commands.rotate_secret(uow, principal, sub_id, hours)

    return await idempotent_command(request, principal, work)


async def _set_state(
    request: Request, principal: Principal, sub_id: str, state: str
) -> JSONResponse:
    async def work(uow: UnitOfWork) -> Document:
        return await commands.set_state(uow, principal, sub_id, state)

    response = await idempotent_command(request, principal, work)
    _wake(request)
    return response


@router.post("/subscriptions/{sub_id}/pause", responses=ON_A_SUBSCRIPTION)
async def pause(sub_id: SubscriptionId, request: Request, principal: Ops) -> JSONResponse:
    """Stop sending; deliveries keep collecting and go out once activated."""
    return await _set_state(request, principal, sub_id, "paused")


@router.post("/subscriptions/{sub_id}/activate", responses=ON_A_SUBSCRIPTION)
async def activate(sub_id: SubscriptionId, request: Request, principal: Ops) -> JSONResponse:
    """Send again (also after the service disabled it); the backlog goes in order."""
    return await _set_state(request, principal, sub_id, "active")


@router.get("/subscriptions/{sub_id}/deliveries", responses=ON_A_SUBSCRIPTION)
async def deliveries(
    sub_id: SubscriptionId,
    request: Request,
    principal: Ops,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many")] = 100,
) -> list[Document]:
    """The subscription's deliveries, newest first (optionally in one state)."""
    db = runtime_of(request).db
    await get_subscription(sub_id, request, principal)
    docs = await repository.deliveries_of(db, sub_id, state, limit)
    return [delivery_view(d) for d in docs]


@router.get("/subscriptions/{sub_id}/deliveries/{delivery_id}", responses=ON_A_SUBSCRIPTION)
async def delivery(
    sub_id: SubscriptionId, delivery_id: DeliveryId, request: Request, principal: Ops
) -> Document:
    """One delivery and every attempt at it (status, latency, error)."""
    db = runtime_of(request).db
    await get_subscription(sub_id, request, principal)
    doc = await repository.delivery(db, sub_id, delivery_id)
    if doc is None:
        raise NotFound("no such delivery")
    attempts = await repository.attempts_of(db, delivery_id)
    return {
        **delivery_view(doc),
        "attempt_log": [
            {k: a.get(k) for k in ("attempt", "at", "status", "latency_ms", "error", "result")}
            for a in attempts
        ],
    }


@router.post(
    "/subscriptions/{sub_id}/deliveries/{delivery_id}/redeliver", responses=ON_A_SUBSCRIPTION
)
async def redeliver_one(
    sub_id: SubscriptionId, delivery_id: DeliveryId, request: Request, principal: Ops
) -> JSONResponse:
    """Send one delivery again (same webhook-id), delivered or not."""

    async def work(uow: UnitOfWork) -> Document:
        return await commands.redeliver_one(uow, principal, sub_id, delivery_id)

    response = await idempotent_command(request, principal, work)
    _wake(request)
    return response


class RangeBody(BaseModel):
    since: Timestamp
    until: Timestamp
    only_failed: bool = Field(False, description="Only deliveries that had a failed attempt")


@router.post("/subscriptions/{sub_id}/redeliver", responses=ON_A_SUBSCRIPTION)
async def redeliver_range(
    sub_id: SubscriptionId, body: RangeBody, request: Request, principal: Ops
) -> JSONResponse:
    """Send again every delivery of the subscription created in [since, until)."""
    commands.check_range(body.since, body.until)

    async def work(uow: UnitOfWork) -> Document:
        return await commands.redeliver_range(
            uow, principal, sub_id, body.since, body.until, only_failed=body.only_failed
        )

    response = await idempotent_command(request, principal, work)
    _wake(request)
    return response


@router.get("/stats")
async def stats(request: Request, principal: Ops) -> Document:
    """Per subscription: state, backlog and the oldest undelivered delivery's age; the
    failing ones (for the dashboard)."""
    runtime = runtime_of(request)
    rows = await subscription_stats(runtime.db, runtime.clock, tenant_filter(principal))
    return {"subscriptions": rows, "failing": [r for r in rows if r["failing"]]}
