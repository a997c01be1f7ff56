"""SMTP delivery with aiosmtplib, once for every service that sends email: a few reused
connections, one outcome per message (the confirmation's sender and followup's digest).

Building the message (its headers, a deterministic Message-ID) and deciding what an
outcome means (retry, give up) stay with the service; this is only the wire."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr

import aiosmtplib
from kauppa.servicekit.ids import header_safe
from pydantic import BaseModel, Field


class SmtpSettings(BaseModel):
    """The SMTP settings of a service that sends mail: mixed into its settings class
    (``class FollowupSettings(ServiceSettings, SmtpSettings)``), so they are read with
    that service's env prefix (``FOLLOWUP_SMTP_HOST``, ``CONFIRMATION_FROM_ADDRESS``)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_use_tls: bool = False  # implicit TLS (port 465)
    smtp_start_tls: bool | None = None  # None: STARTTLS when the server offers it
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_connections: int = Field(4, ge=1, le=64)
    from_address: str = "Kauppa <office@kauppa.example>"
    message_id_domain: str = "kauppa.example"


@dataclass(frozen=True)
class OutgoingEmail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass(frozen=True)
class SmtpOutcome:
    """What one delivery attempt ended with: accepted (250), or a code and reason
    (``code`` None: no answer at all, e.g. connection refused or a timeout)."""

    accepted: bool
    code: int | None = None
    reason: str = ""

    @property
    def permanent(self) -> bool:
        """5xx is final (RFC 5321); 4xx and connection trouble are worth retrying."""
        return not self.accepted and self.code is not None and 500 <= self.code < 600


def address(name: str, addr: str) -> str:
    """A header address; CR/LF in a name or address become spaces, so no value can add
    a header (Bcc: ...) of its own; a non-ASCII name is RFC 2047-encoded."""
    name, addr = header_safe(name), header_safe(addr)
    return formataddr((str(Header(name, "utf-8")) if not name.isascii() else name, addr))


def outcome_of(exc: BaseException) -> SmtpOutcome:
    """Map an aiosmtplib error to a code: 4xx and connection trouble are transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return SmtpOutcome(False, first.code, f"{first.code} {first.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SmtpOutcome(False, exc.code, f"{exc.code} {exc.message}")
    return SmtpOutcome(False, None, f"{type(exc).__name__}: {exc}")


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout=s.smtp_timeout_seconds,
        )

    async def send_all(self, messages: list[Callable[[], OutgoingEmail]]) -> list[SmtpOutcome]:
        """Build and send each message once; outcomes in the same order. Messages are
        built just before sending, so building never blocks the loop for a whole batch."""
        outcomes: list[SmtpOutcome | None] = [None] * len(messages)
        lanes = max(1, min(self.settings.smtp_connections, len(messages)))
        await asyncio.gather(
            *(self._lane(messages, outcomes, range(i, len(messages), lanes)) for i in range(lanes))
        )
        return [o or SmtpOutcome(False, None, "not attempted") for o in outcomes]

    async def _lane(
        self,
        messages: list[Callable[[], OutgoingEmail]],
        outcomes: list[SmtpOutcome | None],
        indexes: range,
    ) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            for i in indexes:
                try:
                    mail = messages[i]()
                except Exception as exc:  # a template error is permanent for this message
                    outcomes[i] = SmtpOutcome(False, 554, f"render failed: {exc}")
                    continue
                try:
                    if client is None or not client.is_connected:
                        client = self._client()
                        await client.connect()
                    await client.sendmail(mail.sender, mail.recipients, mail.data)
                    outcomes[i] = SmtpOutcome(True, 250)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    outcomes[i] = outcome_of(exc)
                    if isinstance(exc, aiosmtplib.SMTPResponseException) and client is not None:
                        with contextlib.suppress(Exception):
                            await client.rset()
                    else:
                        client = None  # connection trouble: a fresh connection next time
        finally:
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()
