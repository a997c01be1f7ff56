"""The digest's calendar (D15, D16): business mornings in the seller's zone, no weekends
or holidays, one identity per (organisation, seller, day)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kauppa.followup.domain.digest import (
    DigestPolicy,
    digest_key,
    is_stale,
    message_id,
    next_digest_day,
    pick_locale,
    send_at,
)
from kauppa.followup.domain.digest_wording import DigestWording

FI = DigestPolicy(
    enabled=True, hour=7, quiet_days=30, yearly_window_days=30, country="FI", locale="fi"
)
HEL = "Europe/Helsinki"


def test_first_morning_is_the_next_business_day_at_the_hour_in_the_sellers_zone() -> None:
    thursday_afternoon = datetime(2027, 11, 25, 12, 0, tzinfo=UTC)
    assert next_digest_day(thursday_afternoon, FI, HEL) == date(2027, 11, 26)
    thursday_dawn = datetime(2027, 11, 25, 4, 0, tzinfo=UTC)  # 06:00 in Helsinki
    assert next_digest_day(thursday_dawn, FI, HEL) == date(2027, 11, 25)
    assert send_at(date(2027, 11, 26), 7, HEL) == datetime(2027, 11, 26, 5, 0, tzinfo=UTC)
    assert send_at(date(2027, 11, 26), 7, "America/New_York") == datetime(
        2027, 11, 26, 12, 0, tzinfo=UTC
    )


def test_friday_is_followed_by_monday_and_a_holiday_is_skipped() -> None:
    friday_fired = datetime(2027, 11, 26, 5, 0, 1, tzinfo=UTC)
    assert next_digest_day(friday_fired, FI, HEL, after=date(2027, 11, 26)) == date(2027, 11, 29)
    # 6 December 2027 (Monday) is Finland's Independence Day: Friday 3rd -> Tuesday 7th.
    assert next_digest_day(
        datetime(2027, 12, 3, 5, 0, 1, tzinfo=UTC), FI, HEL, after=date(2027, 12, 3)
    ) == date(2027, 12, 7)
    # Sweden works on 6 December.
    se = DigestPolicy(**{**FI.__dict__, "country": "SE"})
    assert next_digest_day(
        datetime(2027, 12, 3, 5, 0, 1, tzinfo=UTC), se, "Europe/Stockholm", after=date(2027, 12, 3)
    ) == date(2027, 12, 6)


def test_a_late_firing_is_stale_and_catches_up_with_today() -> None:
    friday_morning = datetime(2027, 12, 3, 6, 0, tzinfo=UTC)  # 08:00, past the hour
    assert is_stale(date(2027, 11, 30), friday_morning, HEL)
    assert not is_stale(date(2027, 12, 3), friday_morning, HEL)
    assert next_digest_day(
        friday_morning, FI, HEL, after=date(2027, 11, 30), catch_up=True
    ) == date(2027, 12, 3)
    assert next_digest_day(friday_morning, FI, HEL, after=date(2027, 11, 30)) == date(2027, 12, 7)


def test_identity_is_deterministic_and_header_safe() -> None:
    day = date(2027, 11, 26)
    assert digest_key("org-a", "s-1", day) == "digest:org-a:s-1:2027-11-26"
    assert message_id("org-a", "s-1", day, "k.example") == "<digest.org-a.s-1.20271126@k.example>"
    assert "\n" not in message_id("org\r\nBcc: x", "s", day, "k.example")


def test_wording_in_three_languages() -> None:
    assert pick_locale(None, "sv-FI") == "sv" and pick_locale("de", None) == "en"
    friday = date(2027, 11, 26)
    assert DigestWording("fi", HEL).day(friday) == "pe 26.11.2027"
    assert DigestWording("sv", HEL).day(friday) == "fre 2027-11-26"
    assert DigestWording("en", HEL).day(friday) == "Fri 26 Nov 2027"
    assert DigestWording("fi", HEL)("subject", day="x") == "Päiväsi x"


def test_every_section_renders_in_english_with_counts_beyond_the_limit() -> None:
    from kauppa.followup.digest import DigestRenderer
    from kauppa.followup.domain.digest import DigestContent, Section

    at = datetime(2027, 11, 26, 7, 0, tzinfo=UTC)
    content = DigestContent(
        organisation_id="org-a",
        seller_id="s-1",
        seller_name="Sam <Seller>",
        day=date(2027, 11, 26),
        locale="en",
        quiet_days=30,
        yearly_window_days=30,
        contacts=Section(
            items=[
                {
                    "contact_id": "c-1",
                    "customer_id": "cu-1",
                    "company": "Acme",
                    "kind": "feedback_call",
                    "due_at": at,
                    "overdue": True,
                }
            ],
            total=3,
        ),
        yearly=Section(items=[{"customer_id": "cu-2", "company": None, "deadline": at}], total=1),
        problems=Section(
            items=[{"customer_id": "cu-1", "company": "Acme", "problems": ["Pump broken"]}],
            total=1,
        ),
        leads=Section(
            items=[
                {
                    "lead_id": "l-1",
                    "source": "web",
                    "product_interest": ["CRM"],
                    "assigned_at": at,
                    "respond_by": at,
                }
            ],
            total=1,
        ),
        quiet=Section(
            items=[
                {
                    "customer_id": "cu-3",
                    "company": "Quiet Oy",
                    "last_contact_at": None,
                    "days": None,
                }
            ],
            total=1,
        ),
    )
    out = DigestRenderer().render(content, HEL)
    assert out.subject == "Your day Fri 26 Nov 2027"
    for text in (out.text, out.html):
        assert "Acme" in text and "overdue" in text and "and 2 more" in text
        assert "cu-2" in text and "Pump broken" in text and "l-1" in text and "(CRM)" in text
        assert "Quiet Oy" in text and "never" in text and "Fri 26 Nov 2027 09:00" in text
    assert "Sam &lt;Seller&gt;" in out.html, "the HTML escapes what it is given"
