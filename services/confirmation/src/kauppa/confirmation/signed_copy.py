"""Fetch the signed order (the signature evidence's ``document_url``) to attach it.

Only URLs the organisation allowed (``OrganisationPolicy.may_fetch``, decided when the
version is drafted) reach here. The fetch is https (http only in the local profile),
follows no redirect (a redirect could leave the allowed host), must answer 200 with
``Content-Type: application/pdf`` and a body that starts with ``%PDF-``, and stops
reading past ``signed_copy_max_bytes``. Anything else gives ``None``: the email is sent
without the file and keeps the link, as before.
"""

from __future__ import annotations

import ssl

import httpx
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.servicekit.ids import allowed_url
from kauppa.servicekit.logging import get_logger
from prometheus_client import CollectorRegistry, Counter

log = get_logger(__name__)


class SignedCopyFetcher:
    def __init__(
        self, settings: ConfirmationSettings, service: str, registry: CollectorRegistry
    ) -> None:
        self.max_bytes = settings.signed_copy_max_bytes
        self.timeout = settings.signed_copy_timeout_seconds
        self.allow_http = settings.kafka.profile == "local"
        self.verify: ssl.SSLContext | bool = True
        if settings.signed_copy_ca_file:
            self.verify = ssl.create_default_context(cafile=settings.signed_copy_ca_file)
        self.service = service
        self.fetches = Counter(
            "kauppa_confirmation_signed_copy_fetches_total",
            "Signed orders fetched to attach, by outcome (attached or why not)",
            ["service", "outcome"],
            registry=registry,
        )

    async def fetch(self, url: str) -> bytes | None:
        data, outcome = await self._fetch(url)
        self.fetches.labels(self.service, outcome).inc()
        if data is None:
            log.warning("signed_copy_not_attached", reason=outcome)
        return data

    async def _fetch(self, url: str) -> tuple[bytes | None, str]:
        if not allowed_url(url, allow_http=self.allow_http):
            return None, "scheme"
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, verify=self.verify
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/pdf"}) as response,
            ):
                if response.status_code != 200:
                    return None, "status"
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind != "application/pdf":
                    return None, "type"
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    return None, "too_large"
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        return None, "too_large"
        except (httpx.HTTPError, ssl.SSLError, OSError):
            return None, "error"
        if not body.startswith(b"%PDF-"):
            return None, "type"
        return bytes(body), "attached"
