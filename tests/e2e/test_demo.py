"""`kauppa demo` end to end: the real command, in its own process, against the spawned
system; the flow it plays must produce closes, confirmation mails at the SMTP server and
ContactDue reminders, and its summary must match the events on the topics."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from kauppa.contracts import topics as T
from kauppa.dashboard.domain.health import webhook_subscriptions
from kauppa.devkit.testing import TopicReader, eventually

from .conftest import KauppaSystem

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_kauppa_demo_plays_the_whole_flow(
    kauppa_system: KauppaSystem, tmp_path: Path
) -> None:
    system = kauppa_system
    reader = await TopicReader(
        system.bootstrap,
        T.DEALS.name,
        T.CONFIRMATIONS.name,
        T.CONTACTS_DUE.name,
        T.LEADS_HANDOFF.name,
        T.CUSTOMERS.name,
    ).start()
    summary_file = tmp_path / "summary.json"
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kauppa.cli.main",
            "demo",
            "--leads",
            "30",
            "--seed",
            "11",
            "--followup-wait",
            "40",
            "--timeout",
            "60",
            "--state-file",
            str(system.state_file),
            "--summary-json",
            str(summary_file),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**system.env, "COLUMNS": "140"},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
        output = out.decode(errors="replace")
        print(output)
        assert proc.returncode == 0, output
        facts = json.loads(summary_file.read_text())
        run = facts["run_id"]
        assert "Where to look" in output and system.smtp.ui in output
        # Routing what-if (#21): the seller with most leads removed; their leads move.
        assert "Routing what-if without" in output and "leads change owner" in output, output
        assert "leads nobody could take" in output
        assert facts["what_if_owner_changed"] >= 1, output
        assert facts["what_if_nobody_could_take"] >= 0
        # The seller's daily digest (#21): the demo waited for its business morning and
        # says it is in the mail sink; the mail is at the SMTP server under its Message-ID.
        assert facts["digest_state"] == "sent", output
        assert "In the mail sink: seller" in output, output
        day = facts["digest_day"].replace("-", "")
        digests = system.smtp.received(
            lambda m: (
                str(m.message["Message-ID"]).startswith("<digest.")
                and f".{day}@" in str(m.message["Message-ID"])
            )
        )
        assert digests, output

        def mine(lead_id: str | None) -> bool:
            return bool(lead_id) and lead_id.startswith(f"lead-{run}-")

        await asyncio.sleep(1)  # the reader catches up with the last events
        # Three sources of different quality: the gate refused some, sellers returned some.
        assert [e for e in reader.events("LeadRejected") if mine(e.lead_id)]
        assert [e for e in reader.events("LeadReturned") if mine(e.lead_id)]
        closes = [e for e in reader.events("DealClosed") if mine(e.lead_id)]
        assert len(closes) >= 3, output
        assert len(closes) == facts["deals_closed"]
        # D10: closes signed in more than one way.
        assert len({c.summary.signature.method for c in closes}) >= 2
        assert any(line.upsell for c in closes for line in c.summary.lines)
        deal_ids = {c.deal_id for c in closes}
        customers = {c.customer_id for c in closes}

        sent = {e.deal_id for e in reader.events("ConfirmationSent") if e.deal_id in deal_ids}
        assert sent, output
        # The mails themselves, at the SMTP server: the Message-ID names the deal.
        mails = system.smtp.received(lambda m: True)
        mailed = {
            d
            for d in deal_ids
            for m in mails
            if f"confirmation-{d}-v1@" in str(m.message["Message-ID"])
        }
        assert sent <= mailed  # the mail is accepted before ConfirmationSent is emitted

        due = [e for e in reader.events("ContactDue") if e.customer_id in customers]
        assert due, output
        assert any(e.kind == "feedback_call" for e in due)
        # The digest step's call-back falls due after the demo counted.
        counted = facts["contact_due"] + facts["digest_call_backs"]
        assert counted >= len({e.contact_id for e in due}) > 0
        assert facts["feedback_calls_completed"] >= 1
        assert [e for e in reader.events("FeedbackCallCompleted") if e.customer_id in customers]

        # D3 over HTTP: the demo's own receiver, subscribed to the partner's leads in
        # org-pohjola, got their verdicts, each signature verified; exactly those leads'.
        partner_leads = {
            e.lead_id
            for t in ("LeadRejected", "LeadLinkedAsDuplicate", "LeadAssigned", "LeadAccepted")
            for e in reader.events(t)
            if mine(e.lead_id)
            and e.organisation_id == "org-pohjola"
            and getattr(e, "source", None) is not None
            and e.source.system == "partner-portal"
        }
        assert partner_leads, output
        assert facts["webhook_deliveries"] > 0, output
        assert facts["webhook_deliveries_verified"] == facts["webhook_deliveries"]
        by_type = facts["webhook_deliveries_by_type"]
        assert sum(by_type.values()) == facts["webhook_deliveries"]
        assert set(by_type) & {"LeadRejected", "LeadAssigned", "LeadLinkedAsDuplicate"}
        assert "webhook deliveries" in output

        # The dashboard's webhook table reads the service's gauges: the subscription,
        # nothing undelivered, its deliveries counted.
        async def scraped() -> list[dict[str, object]]:
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"{system.url('webhooks')}/metrics")).text
            return webhook_subscriptions(metrics)

        # A resend after a lost answer would count twice; the count is noted within ~1 s.
        rows = await eventually(
            scraped,
            lambda rows: (
                len(rows) == 1 and rows[0].get("delivered", 0) >= facts["webhook_deliveries"]
            ),
            timeout=10,
        )
        assert rows[0]["backlog"] == 0 and rows[0]["failing"] is False
    finally:
        await reader.stop()
        system.check_alive()


async def test_kauppa_demo_says_clearly_when_nothing_runs(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kauppa.cli.main",
        "demo",
        "--leads",
        "5",
        "--state-file",
        str(tmp_path / "absent.json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1
    assert "Kauppa is not running" in out.decode() and "make run" in out.decode()
