"""The confirmation email (MIME); the wire is the kit's (``kauppa.servicekit.mail``)."""

from __future__ import annotations

from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr

from kauppa.confirmation.domain.confirmation_content import ConfirmationContent, message_id
from kauppa.confirmation.rendering import RenderedConfirmation
from kauppa.servicekit.ids import header_safe
from kauppa.servicekit.mail import OutgoingEmail, SmtpMailer, outcome_of
from kauppa.servicekit.mail import address as _address

__all__ = ["OutgoingEmail", "SmtpMailer", "build_email", "outcome_of"]


def build_email(
    content: ConfirmationContent,
    rendered: RenderedConfirmation,
    *,
    from_address: str,
    domain: str,
    dated: datetime,
) -> OutgoingEmail:
    """The MIME message. Every header is a function of the stored content and the first
    attempt's time, so a resend is the same email with the same Message-ID. (The
    ``compat32`` MIME classes: about three times faster than ``EmailMessage`` here.)"""
    msg = MIMEMultipart("alternative")
    msg["Message-ID"] = message_id(content.deal_id, content.version, domain)
    msg["Date"] = format_datetime(dated)
    msg["From"] = from_address
    contact = content.customer.contact
    name = contact.name if contact and contact.name else ""
    recipient = content.recipient or ""
    msg["To"] = _address(name, recipient)
    # D12.3: answering reaches the seller; the office sends (D11).
    msg["Reply-To"] = _address(content.seller.name, content.seller.email)
    msg["Subject"] = Header(header_safe(rendered.subject), "utf-8")  # type: ignore[assignment]
    msg["X-Kauppa-Deal"] = header_safe(content.deal_id)
    msg["X-Kauppa-Version"] = str(content.version)
    if content.replaces_version:
        previous = message_id(content.deal_id, content.replaces_version, domain)
        msg["X-Kauppa-Replaces-Version"] = str(content.replaces_version)
        msg["Supersedes"] = previous
        msg["In-Reply-To"] = previous
        msg["References"] = previous
    msg.attach(MIMEText(rendered.text, "plain", "utf-8"))
    msg.attach(MIMEText(rendered.html, "html", "utf-8"))
    return OutgoingEmail(parseaddr(from_address)[1], [recipient], msg.as_bytes())
