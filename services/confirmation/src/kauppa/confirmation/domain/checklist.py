"""D12.1: the seller's checklist, every line the customer will read, in their language.

D9/D11/D12 each become a line: content (each item, upsells marked), delivery schedule,
price, payment terms, signature evidence, the customer's reference, the recipient, and
the seller's business card (D12.3).
"""

from __future__ import annotations

from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.wording import Wording

TIMES = "\N{MULTIPLICATION SIGN}"


def checklist(content: ConfirmationContent) -> list[str]:
    w = Wording(content.customer.locale)
    summary = content.summary
    lines: list[str] = []
    for item in summary.lines:
        upsell = f" ({w('added_at_closing')})" if item.upsell else ""
        discount = (
            f", {w('discount')} {w.number(item.discount_percent)} %"
            if item.discount_percent
            else ""
        )
        lines.append(
            f"{w.number(item.quantity)} {TIMES} {item.description} [{item.product_code}] "
            f"{w.money(item.unit_price)}{discount} = {w.money(item.line_net)}{upsell}"
        )
    for milestone in summary.delivery.milestones:
        lines.append(f"{w('delivery')}: {w.date(milestone.on)} {milestone.description}")
    price = summary.price
    lines.append(
        f"{w('net')} {w.money(price.net)}, {w('vat', rate=w.number(price.vat_rate))} "
        f"{w.money(price.vat)}, {w('total')} {w.money(price.total)}"
    )
    lines.append(f"{w('payment_terms')}: {summary.payment_terms.description}")
    sig = summary.signature
    signed_by = f", {w('signed_by', name=sig.signed_by)}" if sig.signed_by else ""
    lines.append(f"{w('signature')}: {w('sig_' + sig.method.value)}{signed_by}")
    if sig.document_url:
        lines.append(f"{w('signed_copy')}: {sig.document_url}")
    if content.customer_reference:
        lines.append(f"{w('your_reference')}: {content.customer_reference}")
    if content.replaces_version:
        lines.append(w("replaces", version=content.version, old=content.replaces_version))
    seller = content.seller
    card = ", ".join(
        part
        for part in (seller.name, seller.title, seller.phone, seller.email, seller.company)
        if part
    )
    lines.append(f"{w('contact')}: {card}")
    recipient = content.recipient
    lines.append(f"{w('recipient')}: {recipient}" if recipient else w("missing_recipient"))
    return lines
