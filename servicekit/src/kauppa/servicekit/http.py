"""The HTTP side of every service: health, metrics, auth, Idempotency-Key, OpenAPI.

``create_app`` builds a FastAPI app whose lifespan starts and stops the service runtime
(consumer, relay, timers); service routers add the commands and queries.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from kauppa.servicekit import tracing
from kauppa.servicekit.auth import Principal, TokenVerifier
from kauppa.servicekit.limits import RequestLimits
from kauppa.servicekit.openapi import finish_openapi
from kauppa.servicekit.refusals import Conflict, Forbidden, Invalid, NotFound, Refusal
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, OversizedEvent, UnitOfWork
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from pymongo import UpdateMany
from starlette.exceptions import HTTPException as StarletteHTTPException

if TYPE_CHECKING:
    from kauppa.servicekit.runtime import ServiceRuntime


class Liveness(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class AsyncApiDocument(BaseModel):
    """An AsyncAPI 3 document (https://www.asyncapi.com/docs/reference/specification)."""

    model_config = ConfigDict(extra="allow")
    asyncapi: str


def create_app(
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter] = (),
    *,
    title: str | None = None,
    description: str = "",
    manage_runtime: bool = True,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()

    app = FastAPI(
        title=title or f"Kauppa {runtime.name}",
        description=description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(
        RequestLimits,
        max_body_bytes=runtime.settings.max_request_body_bytes,
        max_json_depth=runtime.settings.max_json_depth,
    )
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(runtime.settings)
    app.add_middleware(tracing.HttpTracing, service=runtime.name)  # a span per request

    @app.exception_handler(OversizedEvent)
    async def event_too_large(_request: Request, exc: OversizedEvent) -> JSONResponse:
        """A command whose event would not fit in a broker message: nothing committed."""
        body = {"detail": str(exc), "size": exc.size, "max_message_bytes": exc.limit}
        return JSONResponse(body, status_code=413)

    @app.exception_handler(Refusal)
    async def refused(_request: Request, exc: Refusal) -> JSONResponse:
        """A business rule said no (``servicekit.refusals``): its status, its fields."""
        return JSONResponse(exc.body(), status_code=refusal_status(exc))

    @app.get("/health/live", tags=["health"], response_model=Liveness)
    async def live() -> Document:
        """The process is up (no dependency checks: a restart would not help them)."""
        return {"status": "live", "service": runtime.name}

    @app.get(
        "/health/ready",
        tags=["health"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Broker or database not ready"}},
    )
    async def ready() -> JSONResponse:
        """Broker and database both answer; otherwise 503 with what is wrong."""
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        runtime.metrics.ready.labels(runtime.name).set(1 if ok else 0)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics() -> Response:
        await runtime.refresh_gauges()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["docs"], response_model=AsyncApiDocument)
    async def asyncapi() -> JSONResponse:
        """The AsyncAPI document of the events this service consumes and emits."""
        return JSONResponse(runtime.asyncapi())

    for router in routers:
        app.include_router(router)
    finish_openapi(app)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app


# Where a domain refusal becomes an HTTP status: here, at the edge, and nowhere else.
REFUSAL_STATUS: dict[type[Refusal], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
}


def refusal_status(refusal: Refusal) -> int:
    """The status of a refusal: its nearest class in ``REFUSAL_STATUS``; 422 else."""
    for cls in type(refusal).__mro__:
        if cls in REFUSAL_STATUS:
            return REFUSAL_STATUS[cls]
    return 422


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, except that a 405's ``Allow`` lists the methods of every route on
    the path (Starlette lists only the first route's, e.g. PUT where GET is there too)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = _methods_on(request.app, request.url.path)
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, exc)


def _methods_on(app: FastAPI, path: str) -> set[str]:
    """The methods the app's OpenAPI document declares on ``path`` (HEAD with GET)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods.update(m.upper() for m in operations if m.lower() in _HTTP_METHODS)
    if "GET" in methods:
        methods.add("HEAD")
    return methods


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _json_default(value: Any) -> Any:
    """Dates and times as ISO 8601 / RFC 3339 (``str`` would write a space for the T),
    everything else JSON cannot hold as its string."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def runtime_of(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


def cached_replies_update(match: Document, changes: Document) -> UpdateMany:
    """An update for the ``Idempotency-Key`` cache (collection ``IDEMPOTENCY``): in every
    cached answer whose fields match ``match``, set ``changes`` (e.g. to take personal
    data out of what a replay would return)."""
    return UpdateMany(
        {f"response.{k}": v for k, v in match.items()},
        {"$set": {f"response.{k}": v for k, v in changes.items()}},
    )


async def idempotent_command(
    request: Request,
    principal: Principal,
    work: Callable[[UnitOfWork], Awaitable[Document]],
) -> JSONResponse:
    """Run a mutating command in one transaction. With an ``Idempotency-Key`` header, a
    repeat of the same call returns the first answer and changes nothing; the same key
    with a different method, path, query string or body is refused (422)."""
    runtime = runtime_of(request)
    key = request.headers.get("Idempotency-Key")
    body = await request.body()
    # The whole request: the same key on another method, path, query or body is refused.
    what = f"{request.method} {request.url.path}?{request.url.query}\n".encode()
    fingerprint = hashlib.sha256(what + body).hexdigest()
    scope = f"{principal.scope}|{request.method}|{request.url.path}|{key}"

    async def guarded(uow: UnitOfWork) -> Document:
        if key:
            seen = await uow.db[IDEMPOTENCY].find_one({"_id": scope}, session=uow.session)
            if seen is not None:
                if seen["fingerprint"] != fingerprint:
                    raise HTTPException(422, "Idempotency-Key reused with a different request")
                return {**seen["response"], "_replayed": True}
        response = await work(uow)
        if key:
            await uow.db[IDEMPOTENCY].insert_one(
                {
                    "_id": scope,
                    "fingerprint": fingerprint,
                    "response": json.loads(json.dumps(response, default=_json_default)),
                    "at": uow.now,
                },
                session=uow.session,
            )
        return response

    result = await runtime.committer.commit(guarded)
    status_code = int(result.pop("_status", 200))
    if result.pop("_replayed", False):
        runtime.metrics.http_idempotent_replays.labels(runtime.name).inc()
    body = json.loads(json.dumps(result, default=_json_default))
    return JSONResponse(body, status_code=status_code)
