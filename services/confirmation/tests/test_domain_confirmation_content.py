"""D11/D12: the written record of what was agreed, the seller's checklist and card, in
Finnish, Swedish and English, with Babel money and dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

from babel.numbers import format_currency
from kauppa.confirmation.domain.checklist import checklist
from kauppa.confirmation.domain.confirmation_content import from_deal_amended, from_deal_closed
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.contracts import examples
from kauppa.contracts.events.deals import DealAmended

SPACES = re.compile(r"[\u00a0\u202f]")


def plain(text: str) -> str:
    """Babel separates thousands and the currency with (narrow) no-break spaces."""
    return SPACES.sub(" ", text)


def deal(locale: str = "fi-FI", **overrides: object) -> object:
    return examples.deal_closed(
        customer=examples.prospect(locale=locale),
        closed_at=datetime(2026, 3, 6, 13, 30, tzinfo=UTC),
        **overrides,
    )


def test_d9_d12_2_checklist_lists_every_agreed_part() -> None:
    content = from_deal_closed(deal())  # type: ignore[arg-type]
    lines = plain("\n".join(checklist(content)))
    assert (
        "2 \N{MULTIPLICATION SIGN} CRM Pro, annual licence [CRM-PRO] 1 200,00 € = 2 400,00 €"
        in lines
    )
    assert "Training day" in lines and "lisätty kaupan yhteydessä" in lines  # upsell (D7)
    assert "Yhteensä 4 028,55 €" in lines
    assert "Maksuehdot: 14 days net" in lines
    assert "Sähköinen allekirjoitus" in lines
    assert "PO-4711" in lines
    assert "Sanna Myyjä" in lines and "+358 50 765 4321" in lines  # D12.3
    assert "maija@esimerkki.fi" in lines


def test_d11_finnish_rendering_formats_money_and_dates_the_finnish_way() -> None:
    content = from_deal_closed(deal("fi-FI"))  # type: ignore[arg-type]
    r = ConfirmationRenderer().render(content)
    total = format_currency(Decimal("4028.55"), "EUR", locale="fi_FI")
    assert plain(total) == "4 028,55 €"
    assert total in r.text and total in r.html
    assert r.subject.startswith("Tilausvahvistus")
    assert "Hei Maija Meikäläinen" in r.text
    assert "Toimitusaikataulu" in r.text and "ALV 25,5 %" in r.text
    milestone = content.summary.delivery.milestones[0].on
    months = [
        "tammi",
        "helmi",
        "maalis",
        "huhti",
        "touko",
        "kesä",
        "heinä",
        "elo",
        "syys",
        "loka",
        "marras",
        "joulu",
    ]
    assert f"{milestone.day}. {months[milestone.month - 1]}kuuta {milestone.year}" in r.text
    assert "6.3.2026" in r.text  # agreed on, seller's time zone


def test_d11_swedish_rendering() -> None:
    r = ConfirmationRenderer().render(from_deal_closed(deal("sv-FI")))  # type: ignore[arg-type]
    assert r.subject.startswith("Orderbekräftelse")
    assert "Hej Maija Meikäläinen" in r.text
    assert "Totalt: 4 028,55 €" in plain(r.text)
    assert "Betalningsvillkor" in r.text and "Leveransschema" in r.text
    assert "Moms 25,5 %" in r.text


def test_d11_english_rendering() -> None:
    r = ConfirmationRenderer().render(from_deal_closed(deal("en-GB")))  # type: ignore[arg-type]
    assert r.subject.startswith("Order confirmation")
    assert "Total: €4,028.55" in r.text
    assert "€4,028.55" in r.html
    assert "Payment terms: 14 days net" in r.text
    assert "6 Mar 2026" in r.text


def test_d12_3_text_and_html_carry_the_sellers_business_card() -> None:
    r = ConfirmationRenderer().render(from_deal_closed(deal()))  # type: ignore[arg-type]
    for part in (
        "Sanna Myyjä",
        "Account Manager",
        "+358 50 765 4321",
        "sanna.myyja@kauppa.example",
        "Kauppa Demo Oy",
    ):
        assert part in r.text and part in r.html


def test_d11_signed_order_copy_is_linked_and_note_is_printed() -> None:
    d = deal()
    summary = d.summary.model_copy(  # type: ignore[attr-defined]
        update={
            "signature": d.summary.signature.model_copy(  # type: ignore[attr-defined]
                update={"document_url": "https://sign.example/doc/9"}
            )
        }
    )
    content = from_deal_closed(d.model_copy(update={"summary": summary}))  # type: ignore[attr-defined]
    r = ConfirmationRenderer().render(content, note="Soitan ensi viikolla.")
    assert "https://sign.example/doc/9" in r.text and 'href="https://sign.example/doc/9"' in r.html
    assert "Soitan ensi viikolla." in r.text and "Soitan ensi viikolla." in r.html


def test_html_escapes_what_the_deal_contains() -> None:
    content = from_deal_closed(deal(customer_reference="<script>x</script>"))  # type: ignore[arg-type]
    r = ConfirmationRenderer().render(content)
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html


def test_amendment_is_version_two_marked_as_replacing_version_one() -> None:
    closed = deal("en-GB")
    amended = DealAmended(
        deal_id=closed.deal_id,  # type: ignore[attr-defined]
        organisation_id="org-demo",
        customer_id=closed.customer_id,  # type: ignore[attr-defined]
        customer=closed.customer,  # type: ignore[attr-defined]
        seller=closed.seller,  # type: ignore[attr-defined]
        summary=closed.summary,  # type: ignore[attr-defined]
        summary_version=2,
        replaces_version=1,
        change_note="Training moved to April",
        amended_at=datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
    )
    content = from_deal_amended(amended)
    r = ConfirmationRenderer().render(content)
    assert content.version == 2 and content.replaces_version == 1
    assert "replaces version 1" in r.subject
    assert "This confirmation (version 2) replaces version 1" in r.text
    assert "Training moved to April" in r.text and "replaces version 1" in r.html


def test_templates_are_overridable_per_organisation(tmp_path) -> None:
    org_dir = tmp_path / "org-special"
    org_dir.mkdir()
    (org_dir / "confirmation.txt.j2").write_text(
        "Special {{ c.deal_id }} {{ w.money(s.price.total) }}"
    )
    renderer = ConfirmationRenderer(str(tmp_path))
    special = renderer.render(from_deal_closed(deal(organisation_id="org-special")))  # type: ignore[arg-type]
    normal = renderer.render(from_deal_closed(deal()))  # type: ignore[arg-type]
    assert plain(special.text).startswith("Special deal-") and "4 028,55 €" in plain(special.text)
    assert "<table" in special.html  # the HTML falls back to the built-in template
    assert normal.text.startswith("Hei")


def test_unknown_locale_falls_back_to_english() -> None:
    r = ConfirmationRenderer().render(from_deal_closed(deal("de-DE")))  # type: ignore[arg-type]
    assert r.subject.startswith("Order confirmation")
    assert date(2026, 1, 1).year == 2026
