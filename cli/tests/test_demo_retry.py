"""The demo's HTTP client rides out a service restart: a real local HTTP server that
refuses connections, then comes up answering 503, then 201; the one call succeeds and
every attempt that arrived carried the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from kauppa.cli.demo import Api, DemoError, request_riding_out_restarts
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def recovering_app(keys: list[str], unavailable: int) -> Starlette:
    async def command(request: Request) -> JSONResponse:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) <= unavailable:
            return JSONResponse({"detail": "starting"}, status_code=503)
        return JSONResponse({"ok": True, "attempts": len(keys)}, status_code=201)

    return Starlette(routes=[Route("/deals/d-1/contacts", command, methods=["POST"])])


async def serve_later(app: Starlette, port: int, after: float) -> uvicorn.Server:
    await asyncio.sleep(after)  # until then, connections to the port are refused
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    asyncio.get_running_loop().create_task(server.serve())
    return server


async def test_a_call_rides_out_a_restart_with_the_same_idempotency_key():
    port, keys = free_port(), []
    # Away for 4 s (the old client gave up after about 3 s), then 503 twice, then up.
    starting = asyncio.create_task(serve_later(recovering_app(keys, unavailable=2), port, 4.0))
    async with httpx.AsyncClient(timeout=5) as client:
        api = Api(client, {"closing": f"http://127.0.0.1:{port}"}, asyncio.Semaphore(1))
        api.max_delay = 0.5
        try:
            r = await api.call(
                "closing",
                "POST",
                "/deals/d-1/contacts",
                as_=("seller-1", "seller"),
                body={"channel": "phone"},
                ok=(201,),
            )
        finally:
            server = await starting
            server.should_exit = True
    assert r.status_code == 201 and r.json()["attempts"] == 3
    assert len(keys) == 3 and len(set(keys)) == 1, "one call, one Idempotency-Key"


async def test_it_gives_up_when_the_service_stays_away():
    port = free_port()
    async with httpx.AsyncClient(timeout=1) as client:
        api = Api(client, {"closing": f"http://127.0.0.1:{port}"}, asyncio.Semaphore(1))
        api.retry_for = 0.5
        with pytest.raises(DemoError, match="not reachable"):
            await api.call("closing", "GET", "/x", as_=("s", "seller"))


async def test_an_answer_that_is_not_a_restart_is_not_retried():
    port, keys = free_port(), []

    async def refuse(request: Request) -> JSONResponse:
        keys.append(request.headers["Idempotency-Key"])
        return JSONResponse({"detail": "no"}, status_code=409)

    app = Starlette(routes=[Route("/x", refuse, methods=["POST"])])
    server = await serve_later(app, port, 0)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(50):  # until the server listens
                try:
                    r = await request_riding_out_restarts(
                        client,
                        "POST",
                        f"http://127.0.0.1:{port}/x",
                        headers={"Idempotency-Key": "k"},
                    )
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
    finally:
        server.should_exit = True
    assert r.status_code == 409 and keys == ["k"]
