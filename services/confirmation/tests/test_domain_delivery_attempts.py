"""One email per (deal, version); what to do with the mail server's answer."""

from __future__ import annotations

from datetime import timedelta

from kauppa.confirmation.domain.confirmation_content import message_id
from kauppa.confirmation.domain.delivery_attempts import (
    ConfirmationState,
    SmtpOutcome,
    judge_attempt,
    retry_delay,
)

BASE, CAP = timedelta(seconds=30), timedelta(minutes=10)


def test_d11_message_id_is_deterministic_per_deal_and_version() -> None:
    assert message_id("deal-1", 1, "kauppa.example") == "<confirmation-deal-1-v1@kauppa.example>"
    assert message_id("deal-1", 1, "x.fi") == message_id("deal-1", 1, "x.fi")
    assert message_id("deal-1", 2, "x.fi") != message_id("deal-1", 1, "x.fi")


def test_d11_accepted_mail_is_sent() -> None:
    assert judge_attempt(SmtpOutcome(True, 250), 1, 5, BASE, CAP).state is ConfirmationState.SENT


def test_d11_4xx_is_retried_with_backoff() -> None:
    verdict = judge_attempt(SmtpOutcome(False, 451, "451 try later"), 2, 5, BASE, CAP)
    assert verdict.state is ConfirmationState.DUE
    assert verdict.retry_in == timedelta(seconds=60)


def test_d11_connection_refused_is_transient() -> None:
    outcome = SmtpOutcome(False, None, "ConnectionRefusedError")
    assert not outcome.permanent
    assert judge_attempt(outcome, 1, 5, BASE, CAP).state is ConfirmationState.DUE


def test_d11_5xx_fails_at_once_and_permanently() -> None:
    verdict = judge_attempt(SmtpOutcome(False, 550, "550 no such user"), 1, 5, BASE, CAP)
    assert verdict.state is ConfirmationState.FAILED and verdict.failed_permanently


def test_d11_exhausted_retries_fail_but_not_permanently() -> None:
    verdict = judge_attempt(SmtpOutcome(False, 421, "421 busy"), 5, 5, BASE, CAP)
    assert verdict.state is ConfirmationState.FAILED and not verdict.failed_permanently


def test_backoff_doubles_and_is_capped() -> None:
    delays = [retry_delay(n, BASE, CAP) for n in range(1, 7)]
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert delays[-1] == CAP
