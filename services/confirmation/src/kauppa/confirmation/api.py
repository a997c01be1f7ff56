"""HTTP API (routes only): the seller's review of a draft (D12.1), a deal's
confirmations, and the organisations' send policies (ops). Changes go through
``commands.py``, reads through ``repository.ConfirmationReads``; refusals become
statuses at the kit's HTTP edge.

Tenant scope: a token bound to an organisation (its ``org`` claim) sees and reviews only
its own organisation's confirmations (another's are 404), lists only those, and reads or
sets only its own policy (403); a platform token acts in any."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from kauppa.confirmation import commands
from kauppa.confirmation.deps import service_of
from kauppa.confirmation.document import pdf_file_name, render_pdf
from kauppa.confirmation.domain.confirmation_content import ConfirmationContent, confirmation_key
from kauppa.confirmation.domain.delivery_attempts import ConfirmationState
from kauppa.confirmation.domain.send_policy import OrganisationPolicy, SellerCopy
from kauppa.confirmation.repository import ConfirmationReads, Document
from kauppa.contracts.events.confirmations import SendPolicy
from kauppa.servicekit.auth import (
    Principal,
    organisation_in_scope,
    require,
    tenant_filter,
    visible_to,
)
from kauppa.servicekit.http import idempotent_command, runtime_of
from kauppa.servicekit.ids import OrganisationPath
from kauppa.servicekit.openapi import api_router, errors
from kauppa.servicekit.refusals import NotFound
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork
from pydantic import BaseModel, ConfigDict, Field

router = api_router(tags=["confirmations"])
Seller = Annotated[Principal, Depends(require("seller", "ops"))]
Ops = Annotated[Principal, Depends(require("ops"))]

_PUBLIC_FIELDS = (
    "deal_id",
    "version",
    "organisation_id",
    "seller_id",
    "recipient",
    "policy",
    "requires_approval",
    "send_at",
    "state",
    "message_id",
    "checklist",
    "note",
    "attempts",
    "interrupted_attempts",
    "first_attempt_at",
    "sent_at",
    "failed_at",
    "last_error",
    "next_attempt_at",
    "held_by",
    "approved_by",
    "superseded_by",
    "seller_copy",
    "copy_state",
    "copy_attempts",
    "copy_sent_at",
    "copy_last_error",
)


class ConfirmationOut(BaseModel):
    """One version of a deal's confirmation: who, when, its state and delivery attempts."""

    model_config = ConfigDict(extra="allow")
    deal_id: str
    version: int
    organisation_id: str
    seller_id: str
    state: ConfirmationState
    replaces_version: int | None = None


class PreviewOut(ConfirmationOut):
    subject: str
    text: str
    html: str


class PolicyOut(BaseModel):
    organisation_id: str
    policy: SendPolicy
    country: str | None
    morning_hour: int
    seller_copy: SellerCopy
    signed_copy_hosts: list[str]


def view(doc: Document) -> Document:
    out = {k: doc.get(k) for k in _PUBLIC_FIELDS if k in doc}
    out["replaces_version"] = doc["content"].get("replaces_version")
    return out


async def _visible(
    runtime: ServiceRuntime, principal: Principal, deal_id: str, version: int
) -> Document:
    """One version, if the caller may see it (else, as an unknown one: 404)."""
    doc = await ConfirmationReads(runtime.db).get(confirmation_key(deal_id, version))
    if doc is None:
        raise NotFound("no such confirmation")
    commands.may_see(principal, doc["organisation_id"], doc["seller_id"])
    return doc


@router.get("/confirmations/{deal_id}", response_model=list[ConfirmationOut], responses=errors(404))
async def deal_confirmations(deal_id: str, request: Request, principal: Seller) -> list[Document]:
    """Every version of a deal's confirmation and its state."""
    docs = await ConfirmationReads(runtime_of(request).db).of_deal(deal_id)
    if not docs:  # to a tenant-bound token, a deal unknown here is as unseen as another's
        visible_to(principal, None, "confirmation")
    for doc in docs:
        commands.may_see(principal, doc["organisation_id"], doc["seller_id"])
    return [view(d) for d in docs]


@router.get("/confirmations", response_model=list[ConfirmationOut])
async def confirmations_in_state(
    request: Request,
    principal: Ops,
    state: ConfirmationState,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Document]:
    """Ops: e.g. every failed confirmation (of the token's organisation, if it is bound)."""
    query: Document = {"state": state.value}
    query.update(tenant_filter(principal))
    docs = await ConfirmationReads(runtime_of(request).db).in_state(query, limit)
    return [view(d) for d in docs]


@router.get(
    "/confirmations/{deal_id}/versions/{version}/preview",
    response_model=PreviewOut,
    responses=errors(404),
)
async def preview(deal_id: str, version: int, request: Request, principal: Seller) -> Document:
    """D12.1: the checklist and exactly what will be sent."""
    runtime = runtime_of(request)
    doc = await _visible(runtime, principal, deal_id, version)
    content = ConfirmationContent.model_validate(doc["content"])
    rendered = service_of(runtime).deps.renderer.render(content, doc.get("note"))
    return {
        **view(doc),
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
    }


@router.get(
    "/confirmations/{deal_id}/versions/{version}/document.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **errors(404)},
)
async def preview_document(
    deal_id: str, version: int, request: Request, principal: Seller
) -> Response:
    """The PDF attached to the email, exactly as it will be (or was) sent."""
    runtime = runtime_of(request)
    doc = await _visible(runtime, principal, deal_id, version)
    content = ConfirmationContent.model_validate(doc["content"])
    return Response(
        render_pdf(content, doc.get("note")),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{pdf_file_name(content)}"'},
    )


class NoteBody(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


async def _review(
    request: Request, principal: Principal, command: Callable[[UnitOfWork], Awaitable[Document]]
) -> JSONResponse:
    async def work(uow: UnitOfWork) -> Document:
        return view(await command(uow))

    response = await idempotent_command(request, principal, work)
    service_of(runtime_of(request)).sender.wake()  # an approved version is due now
    return response


ON_A_CONFIRMATION: dict[str, Any] = {
    "response_model": ConfirmationOut,
    "responses": errors(404, 409),
}


@router.post("/confirmations/{deal_id}/versions/{version}/approve", **ON_A_CONFIRMATION)
async def approve(deal_id: str, version: int, request: Request, principal: Seller) -> JSONResponse:
    """The seller checked the draft: send it now."""
    return await _review(
        request, principal, lambda uow: commands.approve(uow, principal, deal_id, version)
    )


@router.post("/confirmations/{deal_id}/versions/{version}/hold", **ON_A_CONFIRMATION)
async def hold(deal_id: str, version: int, request: Request, principal: Seller) -> JSONResponse:
    """Keep it from going out until the seller approves it."""
    return await _review(
        request, principal, lambda uow: commands.hold(uow, principal, deal_id, version)
    )


@router.post("/confirmations/{deal_id}/versions/{version}/note", **ON_A_CONFIRMATION)
async def add_note(
    deal_id: str, version: int, body: NoteBody, request: Request, principal: Seller
) -> JSONResponse:
    """A personal note from the seller, printed in the email."""
    return await _review(
        request,
        principal,
        lambda uow: commands.add_note(uow, principal, deal_id, version, body.note),
    )


class PolicyBody(BaseModel):
    policy: SendPolicy
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    morning_hour: int = Field(8, ge=0, le=23)
    seller_copy: SellerCopy | None = Field(
        None, description="bcc, separate or none; unset: the service's DEFAULT_SELLER_COPY"
    )
    signed_copy_hosts: list[
        Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+(:\d{1,5})?$")]
    ] = Field(default_factory=list, max_length=50)


@router.get("/policies/{organisation_id}", response_model=PolicyOut)
async def get_policy(
    organisation_id: OrganisationPath, request: Request, principal: Ops
) -> Document:
    organisation_in_scope(principal, organisation_id)
    runtime = runtime_of(request)
    stored = await ConfirmationReads(runtime.db).stored_policies([organisation_id])
    policies = service_of(runtime).deps.policies.resolve(stored, [organisation_id])
    return {"organisation_id": organisation_id, **policies[organisation_id].as_mapping()}


@router.put("/policies/{organisation_id}", response_model=PolicyOut)
async def set_policy(
    organisation_id: OrganisationPath, body: PolicyBody, request: Request, principal: Ops
) -> JSONResponse:
    """Ops: change when an organisation's confirmations go out (applies to new drafts)."""
    organisation_in_scope(principal, organisation_id)
    policy = OrganisationPolicy(
        body.policy,
        body.country,
        body.morning_hour,
        body.seller_copy or service_of(runtime_of(request)).deps.policies.default_seller_copy,
        tuple(h.lower() for h in body.signed_copy_hosts),
    )

    return await idempotent_command(
        request, principal, lambda uow: commands.set_policy(uow, principal, organisation_id, policy)
    )
