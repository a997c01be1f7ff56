"""``make bench`` scenarios: DealClosed in, confirmation out (immediate policy).

- ``confirmation: DealClosed -> ConfirmationSent``: the whole path, each email accepted by
  a local SMTP sink (aiosmtpd's ``Sink`` in its own process, like a real MTA would be).
  The output event is emitted after the SMTP server accepted the mail, so its latency is
  an upper bound of "DealClosed to SMTP accept".
- ``confirmation: DealClosed -> ConfirmationScheduled``: the consuming half only (draft,
  checklist, inbox, outbox in one transaction per batch), for comparison.
"""

from __future__ import annotations

from typing import Any

from kauppa.bench.harness import Scenario, helper_process
from kauppa.confirmation.bootstrap import build_runtime
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts import Envelope, envelope, examples, topics


def smtp_sink_port() -> int:
    """An SMTP server that accepts and discards every message (started once)."""
    return helper_process(
        "aiosmtpd", "-n", "-l", "127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"
    )


def _runtime(overrides: dict[str, Any]) -> Any:
    settings = ConfirmationSettings(
        **overrides,
        default_policy="immediate",
        smtp_port=smtp_sink_port(),
        smtp_connections=8,
        sender_batch=100,
        sender_poll_seconds=0.05,
    )
    return build_runtime(settings)


def deals(n: int) -> list[Envelope]:
    return [envelope(examples.deal_closed(), source="bench") for _ in range(n)]


SCENARIOS = [
    Scenario(
        name="confirmation: DealClosed -> ConfirmationSent (SMTP sink)",
        build_runtime=_runtime,
        make_inputs=deals,
        output_type="ConfirmationSent",
        output_topic=topics.CONFIRMATIONS.name,
    ),
    Scenario(
        name="confirmation: DealClosed -> ConfirmationScheduled",
        build_runtime=_runtime,
        make_inputs=deals,
        output_type="ConfirmationScheduled",
        output_topic=topics.CONFIRMATIONS.name,
    ),
]
