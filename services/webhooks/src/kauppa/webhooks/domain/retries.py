"""When to try a delivery again, and when a subscription has failed too long (and the
event that says so)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from kauppa.contracts import WebhookSubscriptionDisabled
from kauppa.contracts.bounds import SHORT_TEXT_MAX, TEXT_MAX


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One HTTP attempt: a status (None when no answer came) and what went wrong."""

    status: int | None
    latency_ms: float
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def backoff(
    attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with jitter after the ``attempts``-th failure (1-based):
    a random delay in [d/2, d], d = base * 2^(attempts-1), at most ``cap``."""
    d = min(base * (2 ** min(max(attempts - 1, 0), 30)), cap)
    return d * (0.5 + 0.5 * (rng or random).random())


def next_try(
    outcome: AttemptOutcome,
    attempts: int,
    base: timedelta,
    cap: timedelta,
    retry_after_cap: timedelta,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait before the next attempt: the receiver's ``Retry-After`` when it gave one
    (at most ``retry_after_cap``), else backoff with jitter."""
    if outcome.retry_after is not None:
        return min(max(outcome.retry_after, timedelta(0)), retry_after_cap)
    return backoff(attempts, base, cap, rng)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After``: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def should_disable(failing_for: timedelta | None, after: timedelta) -> bool:
    """A subscription whose deliveries have failed, without a success, for ``after``."""
    return failing_for is not None and failing_for >= after


def disabled_notice(
    subscription_id: str,
    organisation_id: str,
    url: str,
    failing_since: datetime,
    disabled_at: datetime,
    error: str | None,
) -> WebhookSubscriptionDisabled:
    """The event telling that a subscription was disabled. It names the receiver by its
    host only: the URL's path and query may carry a receiver's own token, so they are
    taken out of the last error too."""
    host = (urlsplit(url).hostname or "(no host)")[:SHORT_TEXT_MAX]
    last_error = (error or "no answer").replace(url, host)
    reason = f"failing since {failing_since.isoformat()}: {last_error}"[:TEXT_MAX]
    return WebhookSubscriptionDisabled(
        subscription_id=subscription_id,
        organisation_id=organisation_id,
        url_host=host,
        failing_since=failing_since,
        disabled_at=disabled_at,
        reason=reason,
    )
