"""The kit's SMTP test server, with the lookups the confirmation tests use: a deal's
mails to its customer, and the seller's separate copies."""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.devkit.testing.smtp import Received, ScriptedSmtp


def _is_copy(mail: Received) -> bool:
    return mail.header("X-Kauppa-Copy") == "seller"


@dataclass
class DealSmtp(ScriptedSmtp):
    def for_deal(self, deal_id: str) -> list[Received]:
        """The customer's mails of a deal (not the seller's separate copies)."""
        return [
            r for r in self.accepted if r.header("X-Kauppa-Deal") == deal_id and not _is_copy(r)
        ]

    def copies_for(self, deal_id: str) -> list[Received]:
        """The seller's separate copies of a deal's confirmations."""
        return [r for r in self.accepted if r.header("X-Kauppa-Deal") == deal_id and _is_copy(r)]
