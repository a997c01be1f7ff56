"""Deterministic ids: the same cause always names the same contact, problem or referral,
so redelivery or a repeated command cannot create a second one."""

from __future__ import annotations

import uuid

_NS = uuid.UUID("6f1f7c1e-3b0a-4d8e-9d0a-5f0e1c2b3a4d")


def _short(*parts: str) -> str:
    return uuid.uuid5(_NS, "|".join(parts)).hex[:20]


def feedback_contact_id(delivery_id: str) -> str:
    return f"fb-{_short('feedback', delivery_id)}"


def next_contact_id(cause: str, customer_id: str) -> str:
    """The next contact set by a report, a repair, a reminder or the first deal."""
    return f"nc-{_short('next', cause, customer_id)}"


def campaign_contact_id(campaign_id: str, customer_id: str) -> str:
    return f"cc-{_short('campaign', campaign_id, customer_id)}"


def problem_id(report_id: str, index: int) -> str:
    return f"pb-{_short('problem', report_id, str(index))}"


def referral_id(report_id: str, index: int) -> str:
    return f"rf-{_short('referral', report_id, str(index))}"


def contact_timer_key(contact_id: str) -> str:
    return f"contact:{contact_id}"
