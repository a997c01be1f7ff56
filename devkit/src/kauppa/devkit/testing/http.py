"""Calling a service's HTTP API in tests: in process (ASGI), with local bearer tokens."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.settings import ServiceSettings


def bearer(
    settings: ServiceSettings, subject: str, *roles: str, organisation_id: str | None = None
) -> dict[str, str]:
    """An ``Authorization`` header; with ``organisation_id``, a token bound to that
    organisation (a tenant token), else a platform token."""
    token = issue_token(settings, subject, roles, organisation_id=organisation_id)
    return {"Authorization": f"Bearer {token}"}


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """A client that calls ``app`` in process (use ``async with``)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")
