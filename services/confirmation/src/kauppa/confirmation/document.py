"""The confirmation as a PDF document (D11): what the email says, as a file to keep.

ReportLab (pure PyPI) with its built-in Helvetica, whose WinAnsi (Windows-1252) encoding
covers Finnish and Swedish (ä, ö, å, €); a character outside it prints as a box.
Deterministic: ``invariant=1`` (no random document id, no wall-clock time) and the
creation date is the version's own agreement time, so the same (deal, version, note)
always gives the same bytes, and a resend after a crash attaches the same file.
"""

from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.wording import Wording
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

_STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_STYLES["Normal"], fontName="Helvetica", fontSize=9.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, textColor=colors.HexColor("#555555"))
RIGHT = ParagraphStyle("right", parent=BODY, alignment=TA_RIGHT)
TITLE = ParagraphStyle("title", parent=BODY, fontName="Helvetica-Bold", fontSize=16, leading=20)
HEADING = ParagraphStyle(
    "heading", parent=BODY, fontName="Helvetica-Bold", fontSize=11, spaceBefore=8, spaceAfter=3
)
_NOT_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    # Babel's narrow no-break space (U+202F) is not in WinAnsi: a no-break space is.
    return Paragraph(escape(text.replace("\u202f", "\u00a0")), style)


def _bold(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(f"<b>{escape(text.replace(chr(0x202F), chr(0xA0)))}</b>", style)


def pdf_file_name(content: ConfirmationContent) -> str:
    """ASCII, so every mail client shows it: ``tilausvahvistus-deal-1-v2.pdf``."""
    w = Wording(content.customer.locale)
    deal = _NOT_IN_FILE_NAME.sub("_", content.deal_id)
    return f"{w('file_name')}-{deal}-v{content.version}.pdf"


def render_pdf(content: ConfirmationContent, note: str | None = None) -> bytes:
    """The confirmation document in the customer's language (fi, sv, en)."""
    w = Wording(content.customer.locale)
    s = content.summary
    tz = content.seller.timezone
    if content.replaces_version:
        title = w("subject_replaces", version=content.version, old=content.replaces_version)
    else:
        title = w("subject")
    story: list[Flowable] = [_p(content.seller.company, SMALL), _p(title, TITLE), Spacer(0, 4)]

    if content.replaces_version:
        box = [_bold(w("replaces", version=content.version, old=content.replaces_version))]
        if content.change_note:
            box.append(_p(f"{w('change_note')}: {content.change_note}"))
        framed = Table([[box]], colWidths=[170 * mm])
        framed.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 1.5, colors.HexColor("#cc6600"))]))
        story += [framed, Spacer(0, 6)]

    facts = [[_bold(w("deal")), _p(f"{content.deal_id} (v{content.version})")]]
    if content.customer_reference:
        facts.append([_bold(w("your_reference")), _p(content.customer_reference)])
    facts.append([_bold(w("agreed_on")), _p(w.datetime(content.agreed_at, tz))])
    customer = [content.customer.company_name]
    if content.customer.business_id:
        customer.append(content.customer.business_id)
    contact = content.customer.contact
    if contact:
        customer += [v for v in (contact.name, contact.title, contact.email) if v]
    facts.append([_bold(w("customer")), [_p(line) for line in customer]])
    table = Table(facts, colWidths=[40 * mm, 130 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, _p(w("items"), HEADING)]

    rows: list[list[object]] = [
        [
            _bold(w("product")),
            _bold(w("quantity"), RIGHT),
            _bold(w("unit_price"), RIGHT),
            _bold(w("discount"), RIGHT),
            _bold(w("line_total"), RIGHT),
        ]
    ]
    for item in s.lines:
        label = f"{item.description} [{item.product_code}]"
        if item.upsell:
            label += f" ({w('added_at_closing')})"
        discount = f"{w.number(item.discount_percent)} %" if item.discount_percent else ""
        rows.append(
            [
                _p(label),
                _p(w.number(item.quantity), RIGHT),
                _p(w.money(item.unit_price), RIGHT),
                _p(discount, RIGHT),
                _p(w.money(item.line_net), RIGHT),
            ]
        )
    totals_from = len(rows)
    rows.append(["", "", "", _p(w("net"), RIGHT), _p(w.money(s.price.net), RIGHT)])
    vat = w("vat", rate=w.number(s.price.vat_rate))
    rows.append(["", "", "", _p(vat, RIGHT), _p(w.money(s.price.vat), RIGHT)])
    rows.append(["", "", "", _bold(w("total"), RIGHT), _bold(w.money(s.price.total), RIGHT)])
    items = Table(rows, colWidths=[74 * mm, 16 * mm, 28 * mm, 24 * mm, 28 * mm], repeatRows=1)
    items.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, totals_from - 1), 0.3, colors.grey),
                ("LINEABOVE", (3, -1), (-1, -1), 0.8, colors.black),
            ]
        )
    )
    story += [items, _p(w("delivery"), HEADING)]
    story += [_p(f"{w.date(m.on)}: {m.description}") for m in s.delivery.milestones]
    story += [
        _p(w("payment_terms"), HEADING),
        _p(s.payment_terms.description),
        _p(w("signature"), HEADING),
    ]
    signature = w("sig_" + s.signature.method.value)
    if s.signature.signed_by:
        signature += ", " + w("signed_by", name=s.signature.signed_by)
    story.append(_p(signature))
    if s.signature.document_url:
        story.append(_p(f"{w('signed_copy')}: {s.signature.document_url}", SMALL))
    if note:
        story += [_p(w("seller_note"), HEADING), _p(note)]
    card = [_bold(content.seller.name)]
    card += [_p(v) for v in (content.seller.title, content.seller.company) if v]
    card += [_p(v) for v in (content.seller.phone, content.seller.email) if v]
    story += [
        Spacer(0, 10),
        KeepTogether([_p(w("contact"), HEADING), *card]),
    ]

    footer = f"{content.deal_id} · v{content.version}"
    if content.replaces_version:
        footer += f" · {w('replaces_short', old=content.replaces_version)}"
    created = content.agreed_at.strftime("D:%Y%m%d%H%M%S+00'00'")

    def on_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: created)
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(20 * mm, 10 * mm, footer.replace("\u202f", "\u00a0"))
        canvas.drawRightString(190 * mm, 10 * mm, str(doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=content.seller.company,
        subject=f"{content.deal_id} v{content.version}",
        creator="Kauppa",
        producer="Kauppa",
        invariant=1,
        lang=w.language,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
