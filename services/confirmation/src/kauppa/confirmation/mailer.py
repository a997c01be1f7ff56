"""The confirmation email (MIME); the wire is the kit's (``kauppa.servicekit.mail``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr

from kauppa.confirmation.domain.confirmation_content import (
    ConfirmationContent,
    message_id,
    seller_copy_message_id,
)
from kauppa.confirmation.rendering import RenderedConfirmation
from kauppa.servicekit.ids import header_safe
from kauppa.servicekit.mail import OutgoingEmail, SmtpMailer, outcome_of
from kauppa.servicekit.mail import address as _address

__all__ = ["OutgoingEmail", "SmtpMailer", "build_email", "outcome_of"]


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
