"""D15/D16: a next contact after every contact, never past 12 months; the audit's rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from kauppa.followup.domain.invariant import (
    CustomerSchedule,
    Violation,
    repaired_due_at,
    schedule_fields,
    violations,
)
from kauppa.followup.domain.next_contact import (
    ContactPolicy,
    contact_deadline,
    decide_next_contact,
    repeat_reminder,
)

POLICY = ContactPolicy(default_next_contact_days=180, max_months_between_contacts=12)
LAST = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TZ = "Europe/Helsinki"


def test_d15_sellers_date_is_kept_at_start_of_their_day() -> None:
    nxt = decide_next_contact(date(2026, 5, 4), LAST, LAST, POLICY, TZ)
    assert nxt.due_at == datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # 09:00 EEST
    assert not nxt.defaulted


def test_d15_no_date_gets_the_default_and_is_marked() -> None:
    nxt = decide_next_contact(None, LAST, LAST, POLICY, TZ)
    assert nxt.due_at == LAST + timedelta(days=180)
    assert nxt.defaulted


def test_d16_date_past_twelve_months_is_clamped_and_marked() -> None:
    nxt = decide_next_contact(date(2028, 1, 1), LAST, LAST, POLICY, TZ)
    assert nxt.due_at == contact_deadline(LAST, POLICY) == datetime(2027, 3, 2, 10, tzinfo=UTC)
    assert nxt.defaulted and nxt.clamped


def test_d16_default_never_exceeds_twelve_months() -> None:
    long_default = ContactPolicy(default_next_contact_days=400)
    nxt = decide_next_contact(None, LAST, LAST, long_default, TZ)
    assert nxt.due_at <= contact_deadline(LAST, long_default)


def test_d15_past_date_means_due_now() -> None:
    now = LAST + timedelta(days=3)
    assert decide_next_contact(date(2026, 3, 1), LAST, now, POLICY, TZ).due_at == now


def test_d15_unanswered_reminder_repeats_but_not_past_deadline() -> None:
    near_deadline = contact_deadline(LAST, POLICY) - timedelta(days=2)
    assert repeat_reminder(LAST, near_deadline, POLICY) == contact_deadline(LAST, POLICY)
    early = LAST + timedelta(days=30)
    assert repeat_reminder(LAST, early, POLICY) == early + timedelta(days=14)


def test_d16_violations() -> None:
    now, grace = LAST + timedelta(days=10), timedelta(hours=1)
    ok = CustomerSchedule(True, LAST, LAST + timedelta(days=90))
    assert violations(ok, now, POLICY, grace) == []
    assert violations(CustomerSchedule(True, LAST, None), now, POLICY, grace) == [Violation.MISSING]
    late = CustomerSchedule(True, LAST, LAST + timedelta(days=400))
    assert violations(late, now, POLICY, grace) == [Violation.BEYOND_DEADLINE]
    stuck = CustomerSchedule(True, LAST, LAST + timedelta(days=1))
    assert violations(stuck, now, POLICY, grace) == [Violation.STUCK]
    assert violations(CustomerSchedule(False, LAST, None), now, POLICY, grace) == []


def test_d16_stored_overshoot_matches_the_rule() -> None:
    assert (
        schedule_fields(LAST + timedelta(days=90), LAST, POLICY)["next_contact_overshoot_s"] is None
    )
    over = schedule_fields(contact_deadline(LAST, POLICY) + timedelta(seconds=5), LAST, POLICY)
    assert over["next_contact_overshoot_s"] == 5.0


def test_d16_repair_puts_next_contact_within_deadline_and_not_in_past() -> None:
    now = LAST + timedelta(days=10)
    due = repaired_due_at(CustomerSchedule(True, LAST, None), now, POLICY)
    assert now <= due <= contact_deadline(LAST, POLICY)
    overdue = repaired_due_at(
        CustomerSchedule(True, LAST, None), LAST + timedelta(days=500), POLICY
    )
    assert overdue == LAST + timedelta(days=500)
