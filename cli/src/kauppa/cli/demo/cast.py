"""The demo's cast and scenario data: the two sales organisations, their sellers, the
products, the three lead sources of different quality, and the names the plan draws from."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SOURCE_SYSTEM = "kauppa-demo"


@dataclass(frozen=True)
class Org:
    org_id: str
    company: str
    domain: str
    policy: str  # confirmation send policy (D11)
    bundle_rules: tuple[dict[str, Any], ...]


ORGS = (
    Org(
        "org-pohjola",
        "Pohjolan Ohjelmistot Oy",
        "pohjola.example",
        "next_business_morning",
        (
            {
                "rule_id": "second-licence-10",
                "kind": "second_unit",
                "percent_off": "10",
                "products": ["CRM-PRO", "ERP-BASIC"],
                "description": "Second licence and more: 10 % off",
            },
            {
                "rule_id": "training-with-licence-15",
                "kind": "upsell_bundle",
                "percent_off": "15",
                "products": ["TRAIN-1D", "SUPPORT-PLUS"],
                "description": "Training or support ordered with the licences: 15 % off",
            },
        ),
    ),
    Org(
        "org-saaristo",
        "Saariston Data Ab",
        "saaristo.example",
        "immediate",
        (
            {
                "rule_id": "bundle-10",
                "kind": "upsell_bundle",
                "percent_off": "10",
                "products": [],
                "description": "Bundle price: 10 % off what is added at closing",
            },
        ),
    ),
)


@dataclass(frozen=True)
class SellerProfile:
    seller_id: str
    org_id: str
    name: str
    title: str
    phone: str
    languages: tuple[str, ...]
    products: tuple[str, ...]
    capacity: int
    team: str


SELLERS = (
    SellerProfile(
        "s-aino",
        "org-pohjola",
        "Aino Lahtinen",
        "Account Manager",
        "+358 40 111 2001",
        ("fi",),
        ("crm", "erp"),
        30,
        "south",
    ),
    SellerProfile(
        "s-ville",
        "org-pohjola",
        "Ville Koski",
        "Sales Manager",
        "+358 40 111 2002",
        ("fi", "en"),
        ("crm", "erp"),
        30,
        "south",
    ),
    SellerProfile(
        "s-helmi",
        "org-pohjola",
        "Helmi Saarinen",
        "Key Account Manager",
        "+358 40 111 2003",
        ("fi", "sv", "en"),
        ("crm", "erp"),
        30,
        "west",
    ),
    SellerProfile(
        "s-oskari",
        "org-pohjola",
        "Oskari Rantanen",
        "Account Manager",
        "+358 40 111 2004",
        ("fi",),
        ("crm",),
        20,
        "north",
    ),
    SellerProfile(
        "s-elsa",
        "org-saaristo",
        "Elsa Lindqvist",
        "Försäljningschef",
        "+358 40 222 3001",
        ("sv", "fi", "en"),
        ("crm", "erp"),
        30,
        "coast",
    ),
    SellerProfile(
        "s-johan",
        "org-saaristo",
        "Johan Berg",
        "Account Manager",
        "+358 40 222 3002",
        ("sv", "fi", "en"),
        ("crm", "erp"),
        30,
        "coast",
    ),
)


@dataclass(frozen=True)
class Product:
    code: str
    description: str
    price: Decimal
    line: str  # product line for routing


PRODUCTS = {
    "CRM-PRO": Product("CRM-PRO", "CRM Pro, annual licence", Decimal("1200.00"), "crm"),
    "ERP-BASIC": Product("ERP-BASIC", "ERP Basic, annual licence", Decimal("2400.00"), "erp"),
    "TRAIN-1D": Product("TRAIN-1D", "Training day on site", Decimal("900.00"), "crm"),
    "SUPPORT-PLUS": Product("SUPPORT-PLUS", "Support Plus, 12 months", Decimal("600.00"), "crm"),
}


@dataclass(frozen=True)
class SourceProfile:
    """How good a lead source is: the honest numbers the dashboard should show (D2-D4)."""

    key: str
    label: str
    system: str
    partner: str | None
    campaigns: tuple[str, ...]
    bookers: tuple[str, ...]
    share: float
    criteria_met: float  # share of leads whose discovery really established D1
    accept: float  # share of assigned leads the sellers accept
    close: float  # share of deals that close
    returns: tuple[tuple[str, float], ...]
    duplicate: float = 0.0
    bad_data: float = 0.0


SOURCES = (
    SourceProfile(
        "inside",
        "inside-sales team (good)",
        "inside-sales",
        None,
        ("key-accounts-q1", "renewals-q1"),
        ("booker-anna", "booker-mikko"),
        0.30,
        0.95,
        0.90,
        0.70,
        (("not_ready_now", 0.6), ("other", 0.4)),
    ),
    SourceProfile(
        "marketing",
        "marketing automation (average)",
        "marketing-automation",
        None,
        ("webinar-erp-2026", "whitepaper-crm"),
        ("nurture-bot",),
        0.40,
        0.78,
        0.65,
        0.45,
        (("not_ready_now", 0.4), ("not_interested", 0.3), ("no_budget", 0.2), ("other", 0.1)),
    ),
    SourceProfile(
        "partner",
        "outsourced partner (poor)",
        "partner-portal",
        "Soittopalvelu Oy",
        ("cold-list-manufacturing", "cold-list-retail"),
        ("agent-17", "agent-23", "agent-42"),
        0.30,
        0.45,
        0.35,
        0.25,
        (
            ("not_interested", 0.4),
            ("no_budget", 0.2),
            ("wrong_contact", 0.2),
            ("no_authority", 0.1),
            ("other", 0.1),
        ),
        duplicate=0.05,
        bad_data=0.04,
    ),
)

INDUSTRIES = ("manufacturing", "manufacturing", "retail", "logistics", "construction", "healthcare")
REGIONS = ("Uusimaa", "Pirkanmaa", "Varsinais-Suomi", "Pohjois-Pohjanmaa", "Pohjanmaa")
SIZES = ("small", "medium", "large")
NAME_A = (
    "Koivu",
    "Järvi",
    "Kallio",
    "Metsä",
    "Ranta",
    "Tuuli",
    "Kivi",
    "Lumi",
    "Honka",
    "Aalto",
    "Revon",
    "Laakson",
    "Virta",
    "Pohjan",
    "Saimaan",
    "Kuusi",
)
NAME_B = (
    "tekniikka",
    "metalli",
    "logistiikka",
    "rakennus",
    "kone",
    "puu",
    "muovi",
    "data",
    "systems",
    "kauppa",
    "valimo",
    "pakkaus",
)
FIRST = (
    "Maija",
    "Matti",
    "Liisa",
    "Jukka",
    "Anna",
    "Mikko",
    "Sari",
    "Timo",
    "Eeva",
    "Pekka",
    "Kaisa",
    "Antti",
    "Riikka",
    "Janne",
)
LAST = (
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Nieminen",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
)
TITLES = ("Toimitusjohtaja", "Talousjohtaja", "IT-päällikkö", "Tuotantojohtaja", "Ostopäällikkö")
LOSS_REASONS = (
    "Chose a competitor on price",
    "Stayed with the current system (status quo)",
    "Project postponed to next year",
    "Budget frozen after all",
)
PROBLEMS = (
    "One licence key was missing from the delivery",
    "Training day not booked yet",
    "Invoice had the wrong reference",
)
RETURN_TEXT = {
    "other": "Company is being sold; no purchases now",
    "wrong_contact": "The person had left the company",
}


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())
