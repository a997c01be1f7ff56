"""SMTP delivery with aiosmtplib: a few reused connections, one outcome per message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib
from kauppa.confirmation.domain.confirmation_content import (
    ConfirmationContent,
    message_id,
    seller_copy_message_id,
)
from kauppa.confirmation.domain.delivery_attempts import SmtpOutcome
from kauppa.confirmation.rendering import RenderedConfirmation
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.servicekit.ids import header_safe


@dataclass(frozen=True)
class OutgoingEmail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass(frozen=True)
class Attachment:
    filename: str  # ASCII
    data: bytes
    subtype: str = "pdf"  # application/<subtype>


def build_email(
    content: ConfirmationContent,
    rendered: RenderedConfirmation,
    *,
    from_address: str,
    domain: str,
    dated: datetime,
    attachments: Sequence[Attachment] = (),
    bcc: Sequence[str] = (),
    copy_label: str | None = None,
) -> OutgoingEmail:
    """The MIME message. Every header is a function of the stored content and the first
    attempt's time, so a resend is the same email with the same Message-ID. (The
    ``compat32`` MIME classes: about three times faster than ``EmailMessage`` here.)

    ``attachments`` make it ``multipart/mixed`` (the text and HTML alternatives first).
    ``bcc`` are envelope recipients only (no header: the customer does not see them).
    ``copy_label`` makes it the seller's separate copy: to the seller, its own
    Message-ID, the subject prefixed with the label, ``X-Kauppa-Copy: seller``."""
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(rendered.text, "plain", "utf-8"))
    body.attach(MIMEText(rendered.html, "html", "utf-8"))
    if attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        for item in attachments:
            part = MIMEApplication(item.data, item.subtype)
            part.add_header("Content-Disposition", "attachment", filename=item.filename)
            msg.attach(part)
    else:
        msg = body
    own = message_id(content.deal_id, content.version, domain)
    subject = rendered.subject
    msg["Date"] = format_datetime(dated)
    msg["From"] = from_address
    if copy_label is None:
        msg["Message-ID"] = own
        contact = content.customer.contact
        name = contact.name if contact and contact.name else ""
        recipient = content.recipient or ""
    else:
        msg["Message-ID"] = seller_copy_message_id(content.deal_id, content.version, domain)
        name, recipient = content.seller.name, content.seller.email
        subject = f"[{copy_label}] {subject}"
    msg["To"] = _address(name, recipient)
    # D12.3: answering reaches the seller; the office sends (D11).
    msg["Reply-To"] = _address(content.seller.name, content.seller.email)
    msg["Subject"] = Header(header_safe(subject), "utf-8")  # type: ignore[assignment]
    msg["X-Kauppa-Deal"] = header_safe(content.deal_id)
    msg["X-Kauppa-Version"] = str(content.version)
    if copy_label is not None:
        msg["X-Kauppa-Copy"] = "seller"
        msg["References"] = own
    elif content.replaces_version:
        previous = message_id(content.deal_id, content.replaces_version, domain)
        msg["X-Kauppa-Replaces-Version"] = str(content.replaces_version)
        msg["Supersedes"] = previous
        msg["In-Reply-To"] = previous
        msg["References"] = previous
    recipients = [recipient, *(header_safe(b) for b in bcc if b and b != recipient)]
    return OutgoingEmail(parseaddr(from_address)[1], recipients, msg.as_bytes())


def _address(name: str, addr: str) -> str:
    """A header address; CR/LF in a name or address (a seller's card, a contact) become
    spaces, so no value can add a header (Bcc: ...) of its own."""
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
    def __init__(self, settings: ConfirmationSettings) -> None:
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
                except Exception as exc:  # a template error is permanent for this version
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
