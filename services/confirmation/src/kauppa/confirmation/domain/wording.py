"""The confirmation's words in the customer's language (fi, sv, en; English otherwise),
and Babel formatting of money and dates for the customer's locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from kauppa.contracts.base import Money

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Order confirmation",
        "subject_replaces": "Order confirmation, version {version} (replaces version {old})",
        "greeting": "Hello {name},",
        "intro": "thank you for your order. This confirms in writing everything we agreed.",
        "replaces": "This confirmation (version {version}) replaces version {old}. "
        "Please disregard the earlier one.",
        "change_note": "What changed",
        "your_reference": "Your reference",
        "deal": "Order number",
        "agreed_on": "Agreed on",
        "items": "What you ordered",
        "product": "Product",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "discount": "Discount",
        "line_total": "Total",
        "added_at_closing": "added at closing",
        "delivery": "Delivery schedule",
        "net": "Net",
        "vat": "VAT {rate} %",
        "total": "Total",
        "payment_terms": "Payment terms",
        "signature": "Signature",
        "signed_by": "signed by {name}",
        "signed_copy": "Copy of the signed order",
        "seller_note": "A note from your seller",
        "contact": "Your contact person",
        "closing": "Questions? Reply to this email or contact me directly.",
        "sig_onsite_signed_form": "Order form signed on site",
        "sig_accepted_offer": "Offer accepted",
        "sig_e_signature": "Electronic signature",
        "recipient": "Recipient",
        "missing_recipient": "NO RECIPIENT EMAIL: cannot be sent",
        "customer": "Customer",
        "file_name": "order-confirmation",
        "replaces_short": "replaces version {old}",
        "seller_copy": "Copy for the seller",
    },
    "fi": {
        "subject": "Tilausvahvistus",
        "subject_replaces": "Tilausvahvistus, versio {version} (korvaa version {old})",
        "greeting": "Hei {name},",
        "intro": "kiitos tilauksestanne. Vahvistamme kirjallisesti kaiken, mistä sovimme.",
        "replaces": "Tämä vahvistus (versio {version}) korvaa version {old}. "
        "Aiempi vahvistus ei ole enää voimassa.",
        "change_note": "Mikä muuttui",
        "your_reference": "Viitteenne",
        "deal": "Tilausnumero",
        "agreed_on": "Sovittu",
        "items": "Tilaamanne tuotteet",
        "product": "Tuote",
        "quantity": "Määrä",
        "unit_price": "Yksikköhinta",
        "discount": "Alennus",
        "line_total": "Yhteensä",
        "added_at_closing": "lisätty kaupan yhteydessä",
        "delivery": "Toimitusaikataulu",
        "net": "Veroton",
        "vat": "ALV {rate} %",
        "total": "Yhteensä",
        "payment_terms": "Maksuehdot",
        "signature": "Allekirjoitus",
        "signed_by": "allekirjoittaja {name}",
        "signed_copy": "Kopio allekirjoitetusta tilauksesta",
        "seller_note": "Myyjänne viesti",
        "contact": "Yhteyshenkilönne",
        "closing": "Kysyttävää? Vastaa tähän viestiin tai ota yhteyttä suoraan minuun.",
        "sig_onsite_signed_form": "Tilauslomake allekirjoitettu paikan päällä",
        "sig_accepted_offer": "Tarjous hyväksytty",
        "sig_e_signature": "Sähköinen allekirjoitus",
        "recipient": "Vastaanottaja",
        "missing_recipient": "EI VASTAANOTTAJAN SÄHKÖPOSTIA: ei voida lähettää",
        "customer": "Asiakas",
        "file_name": "tilausvahvistus",
        "replaces_short": "korvaa version {old}",
        "seller_copy": "Myyjän kopio",
    },
    "sv": {
        "subject": "Orderbekräftelse",
        "subject_replaces": "Orderbekräftelse, version {version} (ersätter version {old})",
        "greeting": "Hej {name},",
        "intro": "tack för er beställning. Här bekräftar vi skriftligt allt vi kom överens om.",
        "replaces": "Denna bekräftelse (version {version}) ersätter version {old}. "
        "Den tidigare bekräftelsen gäller inte längre.",
        "change_note": "Vad som ändrats",
        "your_reference": "Er referens",
        "deal": "Ordernummer",
        "agreed_on": "Överenskommet",
        "items": "Det ni beställt",
        "product": "Produkt",
        "quantity": "Antal",
        "unit_price": "Styckpris",
        "discount": "Rabatt",
        "line_total": "Summa",
        "added_at_closing": "tillagt vid avslutet",
        "delivery": "Leveransschema",
        "net": "Netto",
        "vat": "Moms {rate} %",
        "total": "Totalt",
        "payment_terms": "Betalningsvillkor",
        "signature": "Underskrift",
        "signed_by": "undertecknad av {name}",
        "signed_copy": "Kopia av den undertecknade ordern",
        "seller_note": "Ett meddelande från er säljare",
        "contact": "Er kontaktperson",
        "closing": "Frågor? Svara på detta meddelande eller kontakta mig direkt.",
        "sig_onsite_signed_form": "Orderblankett undertecknad på plats",
        "sig_accepted_offer": "Offert accepterad",
        "sig_e_signature": "Elektronisk underskrift",
        "recipient": "Mottagare",
        "missing_recipient": "INGEN MOTTAGARADRESS: kan inte skickas",
        "customer": "Kund",
        "file_name": "orderbekraftelse",
        "replaces_short": "ersätter version {old}",
        "seller_copy": "Kopia till säljaren",
    },
}


class Wording:
    """Labels and Babel formatting for one customer locale (BCP 47, e.g. ``fi-FI``)."""

    def __init__(self, bcp47: str) -> None:
        try:
            locale = Locale.parse(bcp47.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            locale = Locale.parse("en_GB")
        if locale.language not in LABELS:
            locale = Locale.parse("en_GB")
        if locale.territory is None:
            locale = Locale.parse(f"{locale.language}_{_DEFAULT_TERRITORY[locale.language]}")
        self.locale = locale
        self.language = locale.language
        self.labels = LABELS[self.language]

    def __call__(self, key: str, **values: object) -> str:
        return self.labels[key].format(**values)

    def money(self, money: Money) -> str:
        """``1 234,50 €`` in Finnish, ``€1,234.50`` in English."""
        return format_currency(money.amount, money.currency, locale=self.locale)

    def number(self, value: Decimal) -> str:
        return format_decimal(value.normalize(), locale=self.locale)

    def date(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)

    def datetime(self, when: datetime, timezone: str) -> str:
        return format_datetime(when, format="medium", tzinfo=ZoneInfo(timezone), locale=self.locale)


_DEFAULT_TERRITORY = {"fi": "FI", "sv": "SE", "en": "GB"}
