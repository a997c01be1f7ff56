"""HTTP for the seller's daily digest: the organisation's setting (ops) and a seller's
own opt-out and language (the seller, or ops)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from kauppa.contracts import business_days
from kauppa.followup.digest import (
    DIGEST,
    DIGEST_SETTINGS,
    DIGESTS,
    SELLERS,
    arm,
    policy_from,
    seller_key,
    timezone_of,
)
from kauppa.followup.domain.digest import (
    DigestPolicy,
    digest_key,
    local_day,
    next_digest_day,
    send_at,
)
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.auth import Principal, organisation_in_scope, require, seller_in_scope
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import SafeId
from kauppa.servicekit.openapi import Integer, api_router
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import AfterValidator, BaseModel, Field
from pymongo import ReturnDocument

router = api_router(tags=["digest"])
Ops = Annotated[Principal, Depends(require("ops"))]
Reader = Annotated[Principal, Depends(require("seller", "ops"))]
Locale = Literal["fi", "sv", "en"]
OrganisationQuery = Annotated[
    SafeId | None,
    Query(description="The seller's organisation; a tenant-bound token's own by default"),
]


def _known_country(code: str) -> str:
    if code not in COUNTRIES:
        raise ValueError(f"no holiday calendar for {code}")
    return code


COUNTRIES = business_days.countries()
Country = Annotated[
    str, Field(json_schema_extra={"enum": COUNTRIES}), AfterValidator(_known_country)
]


class OrganisationDigest(BaseModel):
    """An organisation's digest: on or off, the local hour, N days for "no contact"."""

    enabled: bool = True
    hour: Integer = Field(7, ge=0, le=23, description="Local hour in the seller's time zone")
    quiet_days: Integer = Field(30, ge=1, le=3650, description="No contact for this many days")
    yearly_window_days: Integer = Field(30, ge=1, le=365)
    country: Country | None = Field(
        None, description="Public holidays of this country (default: the service's)"
    )
    locale: Locale | None = None


class OrganisationDigestOut(BaseModel):
    organisation_id: str
    enabled: bool
    hour: int
    quiet_days: int
    yearly_window_days: int
    country: str
    locale: str


class SellerDigest(BaseModel):
    enabled: bool = Field(description="False: this seller opts out")
    locale: Locale | None = Field(None, description="The seller's language; none: the org's")


class SellerDigestOut(BaseModel):
    organisation_id: str
    seller_id: str
    enabled: bool
    locale: str | None = None
    email_known: bool = Field(description="A digest needs the seller's card (from a deal)")
    next_digest_day: str | None = None
    latest: dict[str, Any] | None = Field(None, description="The latest digest and its state")


def _settings(request: Request) -> FollowupSettings:
    return runtime_of(request).settings  # type: ignore[return-value]


def _policy_out(org: str, doc: Document | None, settings: FollowupSettings) -> Document:
    p = policy_from(doc, settings)
    return {
        "organisation_id": org,
        "enabled": p.enabled,
        "hour": p.hour,
        "quiet_days": p.quiet_days,
        "yearly_window_days": p.yearly_window_days,
        "country": p.country,
        "locale": p.locale,
    }


@router.get("/organisations/{organisation_id}/digest", response_model=OrganisationDigestOut)
async def organisation_digest(
    organisation_id: SafeId, request: Request, principal: Ops
) -> Document:
    org = organisation_in_scope(principal, organisation_id)
    doc = await runtime_of(request).db[DIGEST_SETTINGS].find_one({"_id": org})
    return _policy_out(org, doc, _settings(request))


@router.put("/organisations/{organisation_id}/digest", response_model=OrganisationDigestOut)
async def set_organisation_digest(
    organisation_id: SafeId, body: OrganisationDigest, request: Request, principal: Ops
) -> JSONResponse:
    """Set the organisation's digest. A new hour moves every seller's next digest."""
    org = organisation_in_scope(principal, organisation_id)
    settings = _settings(request)

    async def work(uow: UnitOfWork) -> Document:
        doc = {"_id": org, **body.model_dump(exclude_none=True), "updated_at": uow.now}
        await uow.collection(DIGEST_SETTINGS).replace_one({"_id": org}, doc, upsert=True)
        policy = policy_from(doc, settings)
        if policy.enabled:
            await rearm(uow, org, policy, settings)
        return _policy_out(org, doc, settings)

    response = await idempotent_command(request, principal, work)
    runtime_of(request).timers.wake()
    return response


async def rearm(
    uow: UnitOfWork, org: str, policy: DigestPolicy, settings: FollowupSettings
) -> None:
    """Every seller of the organisation with a card: the next digest at the (new) hour;
    a seller without one armed (the digest was off) gets the next business morning's."""
    async for seller in uow.collection(SELLERS).find(
        {"organisation_id": org, "email": {"$ne": None}}
    ):
        tz = timezone_of(seller, settings)
        armed = seller.get("next_digest_day")
        day = date.fromisoformat(armed) if armed else None
        if day is None or send_at(day, policy.hour, tz) <= uow.now:
            if day is not None and local_day(uow.now, tz) <= day:
                continue  # today's went (or goes) at the old hour: it stays
            day = next_digest_day(uow.now, policy, tz)
            arm(uow, seller, policy, day, tz)
        else:  # moved to the new hour (the same key: one timer per day still)
            uow.schedule(
                digest_key(org, seller["seller_id"], day),
                send_at(day, policy.hour, tz),
                DIGEST,
                {"organisation_id": org, "seller_id": seller["seller_id"], "day": day.isoformat()},
            )
        await uow.collection(SELLERS).update_one(
            {"_id": seller["_id"]}, {"$set": {"next_digest_day": day.isoformat()}}
        )


def _seller_view(
    org: str, seller_id: str, seller: Document | None, latest: Document | None
) -> Document:
    seller = seller or {}
    if latest is not None:
        latest = {("key" if k == "_id" else k): v for k, v in latest.items()}
    return {
        "organisation_id": org,
        "seller_id": seller_id,
        "enabled": not seller.get("digest_opt_out", False),
        "locale": seller.get("locale"),
        "email_known": bool(seller.get("email")),
        "next_digest_day": seller.get("next_digest_day"),
        "latest": latest,
    }


@router.get("/sellers/{seller_id}/digest", response_model=SellerDigestOut)
async def seller_digest(
    seller_id: str,
    request: Request,
    principal: Reader,
    organisation_id: OrganisationQuery = None,
) -> Document:
    """The seller's digest choice and the latest digest: the seller, or ops."""
    seller_in_scope(principal, seller_id)
    org = organisation_in_scope(principal, organisation_id)
    db = runtime_of(request).db
    seller = await db[SELLERS].find_one({"_id": seller_key(org, seller_id)})
    latest = await db[DIGESTS].find_one(
        {"organisation_id": org, "seller_id": seller_id},
        {"content": 0, "claimed_by": 0, "claim_until": 0},
        sort=[("day", -1)],
    )
    return _seller_view(org, seller_id, seller, latest)


@router.put("/sellers/{seller_id}/digest", response_model=SellerDigestOut)
async def set_seller_digest(
    seller_id: str,
    body: SellerDigest,
    request: Request,
    principal: Reader,
    organisation_id: OrganisationQuery = None,
) -> JSONResponse:
    """Opt out of (``enabled: false``) or back into the daily digest, and its language."""
    seller_in_scope(principal, seller_id)
    org = organisation_in_scope(principal, organisation_id)

    async def work(uow: UnitOfWork) -> Document:
        seller = await uow.collection(SELLERS).find_one_and_update(
            {"_id": seller_key(org, seller_id)},
            {
                "$set": {"digest_opt_out": not body.enabled, "locale": body.locale},
                "$setOnInsert": {"organisation_id": org, "seller_id": seller_id},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _seller_view(org, seller_id, seller, None)

    return await idempotent_command(request, principal, work)
