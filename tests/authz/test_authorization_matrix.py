"""The authorization matrix (issue #18), generated from each service's OpenAPI document:
every operation of handoff, closing, confirmation, followup, webhooks and the dashboard, on the
real broker and mongod, called as a hostile caller would:

- no token, an expired token, the wrong audience, ``org: ""``, ``org`` as an object: 401;
- a role no route takes: 403;
- a token of another organisation (an admin: every role), and a seller of the same
  organisation who does not own the objects: 401/403/404/422, except operations that
  name none of organisation A's objects (``/api/me``, a list of the caller's own),
  which may answer 2xx but must not show any of A's identifiers.

Path parameters are filled with organisation A's seeded objects (its seller, lead,
deal, customer); ``organisation_id``/``org`` parameters and body fields name A; bodies
are built from the operation's schema. Afterwards every document of A in the
service's database is as it was before the calls. A new route is in the matrix
without anyone adding it; a route without a bearer requirement fails the test unless
it is one of the known public ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter
from kauppa.contracts import LeadAccepted, LeadAssigned, LeadSource, envelope, examples
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

PUBLIC = {"/health/live", "/health/ready", "/metrics", "/asyncapi.json"}
PUBLIC |= {"/", "/static/{name}"}  # the dashboard's page and assets (it logs in with a token)
REFUSED = {400, 401, 403, 404, 422}  # 400/422: bad input
# Path parameters that name one of A's objects (a caller of B, or a seller who does not
# own it, must be refused whatever else the route does). Seller ids are per
# organisation: to B, ``/sellers/{id}`` names B's own seller of that id.
OBJECT_PARAMS = {"deal_id", "lead_id", "customer_id", "organisation_id", "sub_id", "delivery_id"}
SELLER_OBJECT_PARAMS = {"deal_id", "lead_id", "customer_id", "seller_id", "sub_id", "delivery_id"}


@dataclass
class Tenant:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def org(self) -> str:
        return f"org-a-{self.tag}"

    other_org: str = field(default_factory=lambda: f"org-b-{uuid.uuid4().hex[:8]}")
    # Ids of A's objects that only the service mints (a webhook subscription's), set by
    # the seed: path parameter name -> id.
    minted: dict[str, str] = field(default_factory=dict)

    @property
    def seller(self) -> str:
        return f"seller-a-{self.tag}"

    @property
    def lead(self) -> str:
        return f"lead-a-{self.tag}"

    @property
    def deal(self) -> str:
        return f"deal-lead-a-{self.tag}"

    @property
    def customer(self) -> str:
        return f"cust-a-{self.tag}"

    @property
    def company(self) -> str:
        return f"Company A {self.tag} Oy"

    def markers(self) -> list[str]:
        """What must never show to B: A's organisation and objects. (Not the seller id:
        seller ids are per organisation, and B may have its own of that id.)"""
        return [self.org, self.lead, self.deal, self.customer, self.company]

    def owned_markers(self) -> list[str]:
        """What must never show to a seller who does not own A's objects."""
        return [self.lead, self.deal, self.customer, self.company]


# ------------------------------------------------------------------------ tokens


def signed(settings: ServiceSettings, **claims: Any) -> str:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": "mallory",
        "roles": ["admin"],
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    if settings.jwt_issuer:
        base["iss"] = settings.jwt_issuer
    base.update(claims)
    return jwt.encode(base, settings.jwt_secret, algorithm="HS256")


def hostile_callers(settings: ServiceSettings, t: Tenant) -> dict[str, dict[str, str]]:
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    past = datetime.now(UTC) - timedelta(minutes=10)
    return {
        "no token": {},
        "expired": auth(signed(settings, org=t.org, exp=past, iat=past - timedelta(hours=1))),
        "wrong audience": auth(signed(settings, org=t.org, aud="another-api")),
        'org ""': auth(signed(settings, org="")),
        "org object": auth(signed(settings, org={"id": t.org})),
        "wrong role": auth(signed(settings, org=t.org, roles=["nobody"])),
        "other organisation": auth(signed(settings, org=t.other_org, roles=["admin"])),
        "seller not owner": auth(signed(settings, org=t.org, sub="seller-z", roles=["seller"])),
    }


# ------------------------------------------------------------------- requests from schema


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def example(doc: dict[str, Any], schema: dict[str, Any], t: Tenant, name: str = "") -> Any:
    """A plausible value for ``schema``: A's ids where the field names one, the first
    enum value, a date, a number in range; objects with their required fields."""
    schema = _resolve(doc, schema)
    named = {
        "organisation_id": t.org,
        "seller_id": t.seller,
        "customer_id": t.customer,
        "deal_id": t.deal,
        "lead_id": t.lead,
    }
    if name in named:
        return named[name]
    if name == "url":  # a receiver (webhooks): past the schema, to the organisation check
        return "https://hooks.example.com/matrix"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return example(doc, options[0], t, name) if options else None
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return {k: example(doc, props[k], t, k) for k in props if k in required or k in named}
    if kind == "array":
        items = schema.get("items", {})
        return [example(doc, items, t)] * int(schema.get("minItems", 0) or 0)
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0)) or 0) + 1
    if kind == "number":
        return str(float(schema.get("minimum", 0) or 0) + 1)
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date-time":
        return (datetime.now(UTC) + timedelta(days=1)).isoformat()
    if fmt == "date":
        return "2030-01-01"
    if fmt == "email":
        return "mallory@evil.example"
    return "x1"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def request(self, doc: dict[str, Any], t: Tenant, service: str) -> dict[str, Any]:
        values = {
            "deal_id": t.deal,
            "lead_id": t.lead,
            "customer_id": t.customer,
            "seller_id": t.seller,
            "organisation_id": t.org,
            "campaign_id": f"camp-a-{t.tag}",
            "service": service,
            "version": "1",
            **t.minted,
        }
        url, params = self.path, {}
        for p in self.spec.get("parameters", []):
            name = p["name"]
            if p["in"] == "path":
                url = url.replace("{" + name + "}", str(values.get(name, "x1")))
            elif p["in"] == "query" and (name in ("organisation_id", "org") or p.get("required")):
                params[name] = (
                    t.org
                    if name in ("organisation_id", "org")
                    else example(doc, p.get("schema", {}), t, name)
                )
        out: dict[str, Any] = {"method": self.method, "url": url, "params": params}
        body = self.spec.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            out["json"] = example(doc, body.get("schema", {}), t)
        return out

    @property
    def path_params(self) -> set[str]:
        return {p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"}


def operations(doc: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, item in doc["paths"].items()
        for method, spec in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


# ------------------------------------------------------------------- what A holds


async def documents_of(rt: ServiceRuntime, t: Tenant) -> dict[str, dict[str, str]]:
    """Every document in the service's database that mentions A (its tag), as JSON."""
    out: dict[str, dict[str, str]] = {}
    for name in await rt.db.list_collection_names():
        for doc in await rt.db[name].find({}).to_list():
            text = json.dumps(doc, default=str, sort_keys=True)
            if t.tag in text:
                out.setdefault(name, {})[str(doc["_id"])] = text
    return out


async def settled(rt: ServiceRuntime, t: Tenant) -> dict[str, dict[str, str]]:
    """A's documents once background work (outbox, consumers) has stopped changing them."""
    before = await documents_of(rt, t)
    for _ in range(20):
        await asyncio.sleep(0.3)
        now = await documents_of(rt, t)
        if now == before:
            return now
        before = now
    return before


# ------------------------------------------------------------------- the services


Seed = Callable[[ServiceRuntime, httpx.AsyncClient, Tenant], Awaitable[None]]


async def _ok(r: httpx.Response) -> None:
    assert r.status_code < 300, r.text


def _admin(rt: ServiceRuntime) -> dict[str, str]:
    return bearer(rt.settings, "seed-admin", "admin")


def _deal_closed(t: Tenant) -> Any:
    return examples.deal_closed(
        deal_id=t.deal,
        lead_id=t.lead,
        organisation_id=t.org,
        customer_id=t.customer,
        customer=examples.prospect(company_name=t.company),
        seller=examples.seller_card(seller_id=t.seller),
    )


async def seed_handoff(rt: ServiceRuntime, http: httpx.AsyncClient, t: Tenant) -> None:
    profile = {"organisation_id": t.org, "name": "Anna A", "capacity": 5}
    await _ok(await http.put(f"/sellers/{t.seller}", json=profile, headers=_admin(rt)))
    lead = examples.lead_qualified(
        lead_id=t.lead,
        organisation_id=t.org,
        prospect=examples.prospect(company_name=t.company),
    )
    await rt.pipeline.process_envelopes([envelope(lead, source="matrix")])
    stored = await rt.db["leads"].find_one({"_id": t.lead})
    assert stored is not None and stored.get("seller_id") == t.seller, stored


async def seed_closing(rt: ServiceRuntime, http: httpx.AsyncClient, t: Tenant) -> None:
    card = examples.seller_card(seller_id=t.seller).model_dump(mode="json")
    r = await http.put(
        f"/sellers/{t.seller}/card",
        params={"organisation_id": t.org},
        json=card,
        headers=_admin(rt),
    )
    await _ok(r)
    accepted = LeadAccepted(
        lead_id=t.lead,
        organisation_id=t.org,
        seller_id=t.seller,
        source=LeadSource(system="matrix"),
        prospect=examples.prospect(company_name=t.company),
        accepted_at=datetime.now(UTC),
    )
    await rt.pipeline.process_envelopes([envelope(accepted, source="matrix")])
    assert await rt.db["deals"].find_one({"_id": t.deal}) is not None


async def seed_by_deal_closed(rt: ServiceRuntime, http: httpx.AsyncClient, t: Tenant) -> None:
    await rt.pipeline.process_envelopes([envelope(_deal_closed(t), source="matrix")])


async def seed_webhooks(rt: ServiceRuntime, http: httpx.AsyncClient, t: Tenant) -> None:
    """A's subscription (for its leads' assignments) and one delivery waiting in it."""
    r = await http.post(
        "/subscriptions",
        json={
            "organisation_id": t.org,
            "url": f"https://hooks.example.com/{t.tag}",
            "event_types": ["LeadAssigned"],
        },
        headers=_admin(rt),
    )
    await _ok(r)
    sub_id = r.json()["subscription_id"]
    lead = LeadAssigned(
        lead_id=t.lead,
        organisation_id=t.org,
        seller_id=t.seller,
        source=LeadSource(system="matrix"),
        prospect=examples.prospect(company_name=t.company),
        criteria=examples.criteria(),
        assigned_at=datetime.now(UTC),
        respond_by=datetime.now(UTC) + timedelta(hours=4),
    )
    env = envelope(lead, source="matrix")
    await rt.pipeline.process_envelopes([env])
    delivery = await rt.db["deliveries"].find_one({"subscription_id": sub_id})
    assert delivery is not None and delivery["event_id"] == env.id, delivery
    t.minted.update(sub_id=sub_id, delivery_id=delivery["_id"])


@dataclass(frozen=True)
class Service:
    name: str
    build: Callable[[Any], ServiceRuntime]
    router: APIRouter
    settings: type[ServiceSettings]
    seed: Seed
    overrides: dict[str, Any] = field(default_factory=dict)


def services() -> list[Service]:
    from kauppa.closing.api import router as closing_router
    from kauppa.closing.bootstrap import build_runtime as closing_runtime
    from kauppa.closing.settings import ClosingSettings
    from kauppa.confirmation.api import router as confirmation_router
    from kauppa.confirmation.bootstrap import build_runtime as confirmation_runtime
    from kauppa.confirmation.settings import ConfirmationSettings
    from kauppa.dashboard.api import router as dashboard_router
    from kauppa.dashboard.bootstrap import build_runtime as dashboard_runtime
    from kauppa.dashboard.settings import DashboardSettings
    from kauppa.followup.api import router as followup_router
    from kauppa.followup.bootstrap import build_runtime as followup_runtime
    from kauppa.followup.settings import FollowupSettings
    from kauppa.handoff.api import router as handoff_router
    from kauppa.handoff.bootstrap import build_runtime as handoff_runtime
    from kauppa.handoff.settings import HandoffSettings
    from kauppa.webhooks.api import router as webhooks_router
    from kauppa.webhooks.bootstrap import build_runtime as webhooks_runtime
    from kauppa.webhooks.settings import WebhooksSettings

    return [
        Service(
            "handoff",
            handoff_runtime,
            handoff_router,
            HandoffSettings,
            seed_handoff,
            {"business_hours_only": False},
        ),
        Service(
            "closing",
            lambda s: closing_runtime(s, run_timers=False),
            closing_router,
            ClosingSettings,
            seed_closing,
        ),
        Service(
            "confirmation",
            confirmation_runtime,
            confirmation_router,
            ConfirmationSettings,
            seed_by_deal_closed,
            {"default_policy": "seller_review"},
        ),
        Service(
            "followup",
            followup_runtime,
            followup_router,
            FollowupSettings,
            seed_by_deal_closed,
            {"audit_interval_minutes": 60 * 24 * 365},
        ),
        Service(
            "webhooks",
            webhooks_runtime,
            webhooks_router,
            WebhooksSettings,
            seed_webhooks,
            {"run_sender": False},  # A's delivery stays as seeded: nothing is sent
        ),
        Service(
            "dashboard",
            dashboard_runtime,
            dashboard_router,
            DashboardSettings,
            seed_by_deal_closed,
            {"service_urls": {}},
        ),
    ]


SERVICES = {s.name: s for s in services()}


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_every_operation_refuses_every_hostile_caller(
    name: str, settings_for: Any, runtimes: list[ServiceRuntime]
) -> None:
    svc = SERVICES[name]
    settings = settings_for(svc.settings, service_name=name, **svc.overrides)
    rt = svc.build(settings)
    runtimes.append(rt)
    await rt.start()
    t = Tenant()
    app = create_app(rt, [svc.router], manage_runtime=False)
    doc = app.openapi()
    ops = operations(doc)
    unguarded = {o.path for o in ops if not o.spec.get("security")} - PUBLIC
    assert not unguarded, f"operations without a bearer requirement: {unguarded}"
    guarded = [o for o in ops if o.spec.get("security")]
    assert guarded, "no operation found"

    async with asgi_client(app) as http:
        await svc.seed(rt, http, t)
        before = await settled(rt, t)
        assert before, "the seed left nothing of A to protect"
        problems: list[str] = []
        for op in guarded:
            request = op.request(doc, t, name)
            for who, headers in hostile_callers(settings, t).items():
                r = await http.request(headers=headers, **request)
                what = f"{who}: {op.method} {request['url']} -> {r.status_code} {r.text[:200]}"
                if who in ("no token", "expired", "wrong audience", 'org ""', "org object"):
                    ok = r.status_code == 401
                elif who == "wrong role":
                    ok = r.status_code == 403
                else:
                    names_object = op.path_params & (
                        OBJECT_PARAMS if who == "other organisation" else SELLER_OBJECT_PARAMS
                    )
                    markers = t.markers() if who == "other organisation" else t.owned_markers()
                    leaked = any(m in r.text for m in markers)
                    ok = r.status_code in REFUSED or (
                        r.status_code < 300 and not names_object and not leaked
                    )
                if not ok:
                    problems.append(what)
                if os.environ.get("MATRIX_DEBUG"):
                    print(what)
        after = await documents_of(rt, t)
    assert not problems, "\n".join(problems)
    changed = {
        f"{c}/{i}"
        for c in set(before) | set(after)
        for i in set(before.get(c, {})) | set(after.get(c, {}))
        if before.get(c, {}).get(i) != after.get(c, {}).get(i)
    }
    assert not changed, f"A's documents changed by hostile calls: {sorted(changed)}"
