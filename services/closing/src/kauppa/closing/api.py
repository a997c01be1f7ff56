"""HTTP API, routes only: the seller's commands on a deal (each also an event, see
``commands.py``), the deal queries, and ops' seller directory and per-organisation sales
process. Commands take an ``Idempotency-Key``: a retried call returns the first answer
and changes nothing. A refusal is answered by the kit's HTTP edge with its status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from kauppa.closing import commands
from kauppa.closing.commands import (
    ContactDraft,
    LossReport,
    OfferDraft,
    StageMove,
    check_access,
    may_act_for,
)
from kauppa.closing.domain.amendment import AmendmentDraft
from kauppa.closing.domain.close_summary import CloseTerms
from kauppa.closing.repository import Deals, Directory
from kauppa.closing.settings import ClosingSettings, SalesProcessConfig
from kauppa.contracts import Referral, SellerCard
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    require,
    seller_in_scope,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import OrganisationPath, OrganisationQuery, SafeId
from kauppa.servicekit.openapi import ErrorResponse, api_router, errors
from kauppa.servicekit.repository import Document
from pydantic import BaseModel, ConfigDict, Field

Seller = Annotated[Principal, Depends(require("seller"))]
Ops = Annotated[Principal, Depends(require("ops"))]
Reader = Annotated[Principal, Depends(require("seller", "ops"))]

router = api_router(tags=["closing"])


class CommandAccepted(BaseModel):
    """The command was recorded as an event on the deal."""

    model_config = ConfigDict(extra="allow")
    deal_id: str
    event_id: str = Field(description="The id of the event the command emitted")


class OfferAccepted(CommandAccepted):
    price: dict[str, Any] = Field(description="The offer priced with the bundle rules")


class ReferralAccepted(BaseModel):
    referral_id: str
    event_id: str


class SellerCardOut(BaseModel):
    seller_id: str
    card: SellerCard


class SalesProcessOut(BaseModel):
    organisation_id: str
    process: SalesProcessConfig


class SellerDealsOut(BaseModel):
    organisation_id: str
    seller_id: str
    status: str
    deals: list[dict[str, Any]]


class DealOut(BaseModel):
    deal: dict[str, Any] = Field(description="The deal's current state")
    history: list[dict[str, Any]] = Field(description="Everything that happened, oldest first")


ON_A_DEAL = errors(404, 409)  # no such deal (or another organisation's); the deal is closed


def _settings(request: Request) -> ClosingSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, ClosingSettings)
    return settings


# ------------------------------------------------------------------ seller commands


@router.post(
    "/deals/{deal_id}/contacts",
    status_code=201,
    response_model=CommandAccepted,
    responses=ON_A_DEAL,
)
async def log_contact(
    deal_id: str, body: ContactDraft, request: Request, seller: Seller
) -> JSONResponse:
    """Log a contact (in person, remote, phone, email); re-arms the stale-deal reminder."""
    settings = _settings(request)
    return await idempotent_command(
        request, seller, lambda uow: commands.log_contact(uow, settings, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/offers", status_code=201, response_model=OfferAccepted, responses=ON_A_DEAL
)
async def send_offer(deal_id: str, body: OfferDraft, request: Request, seller: Seller) -> Any:
    """Record an offer sent by email: lines priced with the organisation's bundle rules."""
    settings = _settings(request)
    return await idempotent_command(
        request, seller, lambda uow: commands.send_offer(uow, settings, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/stage", status_code=201, response_model=CommandAccepted, responses=ON_A_DEAL
)
async def move_stage(deal_id: str, body: StageMove, request: Request, seller: Seller) -> Any:
    """Move the deal to another of the organisation's stages."""
    settings = _settings(request)
    return await idempotent_command(
        request, seller, lambda uow: commands.move_stage(uow, settings, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/lose", status_code=201, response_model=CommandAccepted, responses=ON_A_DEAL
)
async def lose_deal(deal_id: str, body: LossReport, request: Request, seller: Seller) -> Any:
    """The deal ends without a sale, with the reason."""
    return await idempotent_command(
        request, seller, lambda uow: commands.lose_deal(uow, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/referrals",
    status_code=201,
    response_model=ReferralAccepted,
    responses=ON_A_DEAL,
)
async def record_referral(deal_id: str, body: Referral, request: Request, seller: Seller) -> Any:
    """D8: a referral, at any time; the booking side gets a ReferralReceived."""
    return await idempotent_command(
        request, seller, lambda uow: commands.record_referral(uow, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/close",
    status_code=201,
    response_model=CommandAccepted,
    responses={
        **ON_A_DEAL,
        422: {
            "model": ErrorResponse,
            "description": 'Invalid, or incomplete: {"missing": [...], "problems": {item: why}}',
        },
    },
)
async def close_deal(deal_id: str, body: CloseTerms, request: Request, seller: Seller) -> Any:
    """Close won (D9, D10). Refused with 422 naming every missing item among content,
    delivery_schedule, price, payment_terms, signature (and seller_card)."""
    settings = _settings(request)
    return await idempotent_command(
        request, seller, lambda uow: commands.close_deal(uow, settings, deal_id, seller, body)
    )


@router.post(
    "/deals/{deal_id}/amendments",
    status_code=201,
    response_model=CommandAccepted,
    responses=ON_A_DEAL,
)
async def amend_deal(deal_id: str, body: AmendmentDraft, request: Request, seller: Seller) -> Any:
    """Change a closed deal's lines, schedule, terms or VAT: DealAmended, version + 1."""
    settings = _settings(request)
    return await idempotent_command(
        request, seller, lambda uow: commands.amend_deal(uow, settings, deal_id, seller, body)
    )


# ------------------------------------------------------------------ queries


def _public(doc: Document) -> Document:
    out = {k: v for k, v in doc.items() if k not in ("_id", "history")}
    out["deal_id"] = doc["_id"]
    return out


@router.get("/sellers/{seller_id}/deals", response_model=SellerDealsOut)
async def seller_deals(
    seller_id: SafeId,
    request: Request,
    reader: Reader,
    status: Annotated[str, Query(pattern="^(open|won|lost)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    organisation_id: Annotated[
        SafeId | None, Query(description="The seller's organisation (default: the token's)")
    ] = None,
) -> dict[str, Any]:
    """A seller's deals (open by default), newest first. Seller ids are per organisation:
    these are the deals of (organisation, seller); a platform token names the
    organisation (422 without it)."""
    if not may_act_for(reader, seller_id):
        raise HTTPException(403, "sellers see their own deals")
    org = organisation_in_scope(reader, organisation_id)
    deals = Deals.reading(runtime_of(request).db)
    docs = await deals.of_seller(org, seller_id, status, limit)
    return {
        "organisation_id": org,
        "seller_id": seller_id,
        "status": status,
        "deals": [_public(d) for d in docs],
    }


@router.get("/deals/{deal_id}", response_model=DealOut, responses=errors(404))
async def deal_with_history(deal_id: str, request: Request, reader: Reader) -> Any:
    """A deal's current state and its full history, oldest first."""
    deal = await Deals.reading(runtime_of(request).db).document(deal_id)
    check_access(reader, deal_id, (deal["organisation_id"], deal["seller_id"]) if deal else None)
    assert deal is not None
    history = sorted(deal.get("history", []), key=lambda h: h["at"])
    return {"deal": _public(deal), "history": history}


# ------------------------------------------------------------------ ops: directory, process


@router.put("/sellers/{seller_id}/card", response_model=SellerCardOut)
async def put_seller_card(
    seller_id: SafeId,
    card: SellerCard,
    request: Request,
    ops: Ops,
    organisation_id: OrganisationQuery = None,
) -> Any:
    """The seller's contact card; DealClosed carries it to the confirmation (D12.3).
    Seller ids are per organisation: a card is the card of (organisation, seller)."""
    org = organisation_in_scope(ops, organisation_id)
    return await idempotent_command(
        request, ops, lambda uow: commands.put_seller_card(uow, org, seller_id, card)
    )


@router.get("/sellers/{seller_id}/card", response_model=SellerCard, responses=errors(404))
async def get_seller_card(
    seller_id: SafeId,
    request: Request,
    reader: Reader,
    organisation_id: OrganisationQuery = None,
) -> SellerCard:
    """A seller reads their own card; ops and admin any of their organisation's."""
    org = organisation_in_scope(reader, organisation_id)
    seller_in_scope(reader, seller_id)
    card = await Directory.reading(runtime_of(request).db).seller_card(org, seller_id)
    if card is None:
        raise HTTPException(404, f"no contact card for seller {seller_id}")
    return card


@router.put("/organisations/{organisation_id}/sales-process", response_model=SalesProcessOut)
async def put_sales_process(
    organisation_id: OrganisationPath, config: SalesProcessConfig, request: Request, ops: Ops
) -> Any:
    """Stages, stale-deal windows per stage and bundle price rules of one organisation."""
    organisation_in_scope(ops, organisation_id)
    return await idempotent_command(
        request, ops, lambda uow: commands.put_sales_process(uow, organisation_id, config)
    )


@router.get("/organisations/{organisation_id}/sales-process")
async def get_sales_process(
    organisation_id: OrganisationPath, request: Request, reader: Reader
) -> SalesProcessConfig:
    organisation_in_scope(reader, organisation_id)
    directory = Directory.reading(runtime_of(request).db)
    configs = await directory.processes([organisation_id], _settings(request).default_process())
    return configs[organisation_id]
