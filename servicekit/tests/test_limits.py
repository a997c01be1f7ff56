"""Limits before work (issue #18): a body over the limit is 413 before parsing and before
the token is checked, streamed or declared; deep JSON is 422."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Depends
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.auth import Principal, require
from kauppa.servicekit.http import create_app
from kauppa.servicekit.limits import json_depth
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, ServiceSettings
from pydantic import BaseModel

router = APIRouter()


class Doc(BaseModel):
    payload: object = None


@router.post("/things")
async def post_thing(doc: Doc, who: Principal = Depends(require("ops"))) -> dict[str, str]:
    return {"ok": who.subject}


def client(**overrides: object) -> tuple[httpx.AsyncClient, ServiceSettings]:
    settings = ServiceSettings(
        service_name="limits", kafka=KafkaSettings(profile="local"), **overrides
    )
    app = create_app(ServiceRuntime(settings), [router], manage_runtime=False)
    return asgi_client(app), settings


async def test_an_oversized_body_is_413_before_the_token_is_checked():
    http, settings = client(max_request_body_bytes=1000)
    async with http:
        big = b'{"payload": "' + b"x" * 2000 + b'"}'
        r = await http.post("/things", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413  # no token: still 413, not 401

        async def streamed() -> AsyncIterator[bytes]:
            yield b'{"payload": "'
            for _ in range(10):
                yield b"y" * 200  # no Content-Length: counted as it arrives
            yield b'"}'

        r = await http.post("/things", content=streamed(), headers=bearer(settings, "o", "ops"))
        assert r.status_code == 413
        ok = await http.post(
            "/things", json={"payload": "small"}, headers=bearer(settings, "o", "ops")
        )
        assert ok.status_code == 200, ok.text
        assert (await http.post("/things", json={"payload": "small"})).status_code == 401


async def test_the_default_limit_is_one_mebibyte():
    http, settings = client()
    async with http:
        headers = {**bearer(settings, "o", "ops"), "content-type": "application/json"}
        body = b'{"payload": "' + b"z" * (1024 * 1024) + b'"}'
        assert (await http.post("/things", content=body, headers=headers)).status_code == 413


async def test_deep_json_is_422():
    http, settings = client()
    deep = {"payload": None}
    for _ in range(40):
        deep = {"payload": deep}
    async with http:
        r = await http.post("/things", json=deep, headers=bearer(settings, "o", "ops"))
        assert r.status_code == 422
        r = await http.post("/things", json=deep)  # before auth as well
        assert r.status_code == 422


def test_json_depth_skips_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'"just a string with \\" and [ "') == 0
