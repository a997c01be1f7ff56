"""The digest's words in the seller's language (fi, sv, en) and its dates, formatted
for that language in the seller's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Your day {day}",
        "greeting": "Good morning {name},",
        "intro": "here is what waits for you today.",
        "contacts": "Contacts due today and overdue",
        "overdue": "overdue",
        "due": "due",
        "yearly": "Yearly contact due within {days} days (D16)",
        "deadline": "contact by",
        "problems": "Open problems: fix before offering more (D14)",
        "leads": "Leads waiting for your verdict",
        "respond_by": "answer by",
        "quiet": "No contact for {days} days or more",
        "last_contact": "last contact",
        "never": "never",
        "days_ago": "{days} days ago",
        "more": "and {count} more",
        "kind_feedback_call": "feedback call",
        "kind_scheduled": "agreed contact",
        "kind_yearly": "yearly contact",
        "kind_campaign": "campaign",
        "footer": "You receive this every business morning. Opt out: PUT /sellers/{seller}/digest",
    },
    "fi": {
        "subject": "Päiväsi {day}",
        "greeting": "Hyvää huomenta {name},",
        "intro": "tässä tämän päivän tehtäväsi.",
        "contacts": "Tänään erääntyvät ja myöhässä olevat yhteydenotot",
        "overdue": "myöhässä",
        "due": "tänään",
        "yearly": "Vuosittainen yhteydenotto {days} päivän sisällä (D16)",
        "deadline": "viimeistään",
        "problems": "Avoimet ongelmat: korjaa ennen lisämyyntiä (D14)",
        "leads": "Liidit, jotka odottavat päätöstäsi",
        "respond_by": "vastaa viimeistään",
        "quiet": "Ei yhteydenottoa vähintään {days} päivään",
        "last_contact": "edellinen yhteydenotto",
        "never": "ei koskaan",
        "days_ago": "{days} päivää sitten",
        "more": "ja {count} muuta",
        "kind_feedback_call": "palautepuhelu",
        "kind_scheduled": "sovittu yhteydenotto",
        "kind_yearly": "vuosittainen yhteydenotto",
        "kind_campaign": "kampanja",
        "footer": "Saat tämän joka arkiaamu. Peruutus: PUT /sellers/{seller}/digest",
    },
    "sv": {
        "subject": "Din dag {day}",
        "greeting": "God morgon {name},",
        "intro": "här är det som väntar dig i dag.",
        "contacts": "Kontakter som förfaller i dag och försenade",
        "overdue": "försenad",
        "due": "i dag",
        "yearly": "Årlig kontakt inom {days} dagar (D16)",
        "deadline": "senast",
        "problems": "Öppna problem: åtgärda innan du erbjuder mer (D14)",
        "leads": "Leads som väntar på ditt beslut",
        "respond_by": "svara senast",
        "quiet": "Ingen kontakt på {days} dagar eller mer",
        "last_contact": "senaste kontakt",
        "never": "aldrig",
        "days_ago": "för {days} dagar sedan",
        "more": "och {count} till",
        "kind_feedback_call": "uppföljningssamtal",
        "kind_scheduled": "avtalad kontakt",
        "kind_yearly": "årlig kontakt",
        "kind_campaign": "kampanj",
        "footer": "Du får detta varje vardagsmorgon. Avsluta: PUT /sellers/{seller}/digest",
    },
}

WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
}


class DigestWording:
    def __init__(self, locale: str, timezone: str) -> None:
        self.locale = locale if locale in LABELS else "en"
        self.zone = ZoneInfo(timezone)

    def __call__(self, key: str, **values: object) -> str:
        text = LABELS[self.locale].get(key) or LABELS["en"].get(key, key)
        return text.format(**values) if values else text

    def kind(self, kind: str) -> str:
        return self(f"kind_{kind}")

    def day(self, d: date) -> str:
        """fi: pe 4.12.2026, sv: fre 2026-12-04, en: Fri 4 Dec 2026."""
        wd = WEEKDAYS[self.locale][d.weekday()]
        if self.locale == "fi":
            return f"{wd} {d.day}.{d.month}.{d.year}"
        if self.locale == "sv":
            return f"{wd} {d.isoformat()}"
        return f"{wd} {d.day} {d:%b} {d.year}"

    def when(self, at: datetime) -> str:
        """A moment as the seller's local date and time."""
        local = at.astimezone(self.zone)
        clock = f"{local:%H.%M}" if self.locale == "fi" else f"{local:%H:%M}"
        return f"{self.day(local.date())} {clock}"
