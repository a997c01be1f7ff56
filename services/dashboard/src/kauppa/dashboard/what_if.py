"""Routing what-if from the dashboard: a proposal forwarded to handoff's ``POST /what-if``
with the caller's own bearer token (handoff decides again who may ask), its answer passed
back. The dashboard keeps no copy of the replay: handoff owns the leads and the rules."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from kauppa.servicekit.openapi import Timestamp
from pydantic import BaseModel, ConfigDict, Field

WHAT_IF_MAX_WEEKS = 12  # handoff's bounds, checked here too so a bad form fails fast
WHAT_IF_MAX_LEADS = 50_000
FORWARDED_STATUSES = (401, 403, 422)  # handoff's refusals the caller can act on


class Upstream(Exception):
    """Handoff refused the proposal (``status`` and ``detail`` as it said) or is away."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


Short = Annotated[str, Field(max_length=100)]


class AbsenceIn(BaseModel):
    start: Timestamp
    end: Timestamp | None = None


class SellerChange(BaseModel):
    """A seller added or changed, as handoff's what-if takes it (its ``PUT /sellers``
    fields): only the fields given change; lists and absences replace the current ones."""

    name: str = Field("", max_length=200)
    team: str | None = Field(None, max_length=100)
    regions: list[Short] = Field(default_factory=list, max_length=200)
    products: list[Short] = Field(default_factory=list, max_length=500)
    languages: list[Short] = Field(default_factory=list, max_length=50)
    capacity: int = Field(10, ge=0, le=100_000, description="Max open leads")
    active: bool = True
    absences: list[AbsenceIn] = Field(default_factory=list, max_length=100)


class WhatIfSpread(BaseModel):
    sellers: int
    min: int
    max: int
    mean: float
    stdev: float


class WhatIfSide(BaseModel):
    """Totals of one side (what happened, or the proposal)."""

    model_config = ConfigDict(extra="allow")
    queued: int = Field(description="Leads that waited for a seller at least once")
    queued_by_reason: dict[str, int]
    waiting: int = Field(description="Leads nobody holds at the end")
    waiting_by_reason: dict[str, int]
    reminders: int
    reassignments: int
    spread: WhatIfSpread


class WhatIfSeller(BaseModel):
    seller_id: str
    actual: int = Field(description="Leads that ended with the seller")
    proposed: int
    actual_assignments: int
    proposed_assignments: int


class WhatIfChange(BaseModel):
    lead_id: str
    actual: str | None
    proposed: str | None
    proposed_reason: str | None = Field(description="Why it waits in the proposal")


class WhatIfResult(BaseModel):
    """Handoff's answer (see handoff's ``POST /what-if``)."""

    model_config = ConfigDict(extra="allow")
    organisation_id: str
    since: str
    until: str
    leads: int = Field(description="Leads replayed (routed in the window)")
    truncated: bool
    seconds: float
    owner_changed: int = Field(description="Leads that change owner")
    actual: WhatIfSide
    proposed: WhatIfSide
    sellers: list[WhatIfSeller]
    changes: list[WhatIfChange] = Field(description="The first 100, in arrival order")
    not_on_roster: list[str]


async def forward_what_if(
    handoff_url: str | None, authorization: str, proposal: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Handoff's answer to ``proposal``; ``Upstream`` when it refuses (401/403/422, as it
    said) or does not answer properly (503)."""
    if not handoff_url:
        raise Upstream(503, "handoff's URL is not configured (DASHBOARD_SERVICE_URLS)")
    url = f"{handoff_url.rstrip('/')}/what-if"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.post(url, json=proposal, headers={"Authorization": authorization})
    except httpx.HTTPError as exc:
        raise Upstream(503, f"handoff does not answer: {type(exc).__name__}") from exc
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code == 200 and isinstance(body, dict):
        return body
    if r.status_code in FORWARDED_STATUSES and isinstance(body, dict) and "detail" in body:
        raise Upstream(r.status_code, body["detail"])
    raise Upstream(503, f"handoff answered {r.status_code}")
