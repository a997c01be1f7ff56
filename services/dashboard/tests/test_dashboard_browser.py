"""The browser test: Debian's chromium driven by Playwright opens the dashboard, signs
in with an ops token, and reads the numbers for events this test produced through Kafka;
then a new event shows up without a reload. Saves test-artifacts/dashboard.png. And one
routing what-if run from the page against a real handoff."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from kauppa.contracts import envelope, examples
from kauppa.dashboard.api import router
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import publish_envelopes
from kauppa.devkit.testing.http import asgi_client
from kauppa.handoff.api import router as handoff_router
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.http import create_app
from playwright.async_api import Page, async_playwright, expect

from . import scenario
from .browser import CHROMIUM_ARGS, ensure_chromium, serving
from .what_if_support import PROPOSAL, seed_routing_history

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
TIMEOUT_MS = 20_000


def by_id(page: Page, name: str):
    return page.locator(f'[data-testid="{name}"]')


async def test_browser_shows_the_numbers_of_the_events_produced(infra, start_dashboard):
    chromium = ensure_chromium()
    port, nobody = free_port(), free_port()
    own_url = f"http://127.0.0.1:{port}"
    # "mirror" is the dashboard itself scraped over real HTTP; "closing" answers nowhere.
    rt = await start_dashboard(
        http_port=port,
        service_urls={"mirror": own_url, "closing": f"http://127.0.0.1:{nobody}"},
        poll_interval_ms=500,
    )
    sc = scenario.build()
    await publish_envelopes(infra.kafka_bootstrap_servers, sc.envelopes)
    token = issue_token(rt.settings, "ops-anna", ["ops"], organisation_id=sc.org)
    app = create_app(rt, [router], manage_runtime=False)

    async with serving(app, port) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            await page.goto(url)
            await by_id(page, "token-input").fill(token)
            await by_id(page, "login-button").click()
            await expect(by_id(page, "who")).to_contain_text("ops-anna", timeout=TIMEOUT_MS)

            # The funnel (wait for the last stage: everything before it is in by then).
            await expect(by_id(page, "funnel-feedback_done")).to_have_text("1", timeout=TIMEOUT_MS)
            for stage, count in scenario.FUNNEL.items():
                await expect(by_id(page, f"funnel-{stage}")).to_have_text(
                    str(count), timeout=TIMEOUT_MS
                )
            await expect(by_id(page, "funnel-accepted-percent")).to_contain_text("50.0 %")

            # Lead quality per source (D2-D4).
            alpha, beta = "quality-source-alpha-web", "quality-source-beta-list"
            await expect(by_id(page, f"{alpha}-qualified")).to_have_text("3")
            await expect(by_id(page, f"{alpha}-acceptance")).to_have_text("50.0 %")
            await expect(by_id(page, f"{alpha}-conversion")).to_have_text("100.0 %")
            await expect(by_id(page, f"{alpha}-reasons")).to_have_text("not interested 1")
            await expect(by_id(page, f"{beta}-acceptance")).to_have_text("100.0 %")
            await expect(by_id(page, f"{beta}-conversion")).to_have_text("0.0 %")
            await expect(by_id(page, f"{beta}-queued")).to_have_text("1")
            await expect(by_id(page, f"{beta}-reasons")).to_have_text("queued: all at capacity 1")

            # Handoff SLA, stale deals, confirmations, contacts.
            await expect(by_id(page, "sla-reminders")).to_have_text("1")
            await expect(by_id(page, "sla-reassignments")).to_have_text("1")
            await expect(by_id(page, "sla-unassigned")).to_have_text("1")
            await expect(by_id(page, "sla-queue")).to_contain_text(sc.ids["L4"])
            await expect(by_id(page, "sla-queue")).to_contain_text("all at capacity")
            await expect(by_id(page, "sla-queue-reasons")).to_have_text("Why: all at capacity 1")
            await expect(by_id(page, "stale-count")).to_have_text("1")
            await expect(by_id(page, "confirm-sent")).to_have_text("1")
            await expect(by_id(page, "confirm-p50")).to_have_text("1.5 h")
            await expect(by_id(page, "confirm-failures")).to_have_text("1")
            s1 = f"contacts-{sc.ids['s1']}"
            await expect(by_id(page, f"{s1}-upcoming")).to_have_text("1")
            await expect(by_id(page, f"{s1}-overdue")).to_have_text("1")
            await expect(by_id(page, "without-next-contact")).to_have_text("1")

            # The alert of a disabled webhook subscription (WebhookSubscriptionDisabled).
            w1 = f"webhook-alert-{sc.ids['W1'].lower()}"
            await expect(by_id(page, "webhook-alerts")).to_be_visible()
            await expect(by_id(page, "webhook-alerts-count")).to_have_text(
                "1 disabled in this period"
            )
            await expect(by_id(page, w1)).to_contain_text("hooks.alpha.example")
            await expect(by_id(page, f"{w1}-reason")).to_have_text("failing since 36 h: HTTP 503")

            # Operational health, scraped over HTTP.
            await expect(by_id(page, "health-mirror-status")).to_have_text(
                "ready", timeout=TIMEOUT_MS
            )
            await expect(by_id(page, "health-closing-status")).to_have_text("down")
            # The mirror's dead letters are the dashboard's own counter, scraped over HTTP.
            # (Other tests on the shared broker leave poison records on the topics, so
            # the number is whatever this runtime really dead-lettered, not a constant.)
            own = sum(
                sample.value
                for metric in rt.metrics.dead_letters.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
            await expect(by_id(page, "health-mirror-dead-letters")).to_have_text(
                f"{own:g}", timeout=TIMEOUT_MS
            )

            # Live: a new lead appears without a reload.
            extra = examples.lead_qualified(organisation_id=sc.org)
            await publish_envelopes(
                infra.kafka_bootstrap_servers, [envelope(extra, source="dashboard-test")]
            )
            await expect(by_id(page, "funnel-qualified")).to_have_text(
                str(scenario.FUNNEL["qualified"] + 1), timeout=TIMEOUT_MS
            )

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # Signing out forgets the token.
            await page.get_by_role("button", name="Sign out").click()
            await expect(by_id(page, "login-button")).to_be_visible()
            assert await page.evaluate("sessionStorage.length") == 0
        finally:
            await browser.close()


async def test_browser_runs_a_routing_what_if(start_dashboard, start_handoff):
    """The what-if panel: the proposal typed in the form goes to handoff through the
    dashboard; the table and the chart show leads per seller, actual beside proposed."""
    chromium = ensure_chromium()
    handoff = await start_handoff()
    org = f"org-wi-{uuid.uuid4().hex[:8]}"
    handoff_app = create_app(handoff, [handoff_router], manage_runtime=False)
    port = free_port()
    async with (
        asgi_client(handoff_app) as direct,
        serving(handoff_app, free_port()) as handoff_url,
    ):
        await seed_routing_history(direct, handoff, org)
        rt = await start_dashboard(http_port=port, service_urls={"handoff": handoff_url})
        token = issue_token(rt.settings, "ops-anna", ["ops"], organisation_id=org)
        app = create_app(rt, [router], manage_runtime=False)
        async with serving(app, port) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                await page.goto(url)
                await by_id(page, "token-input").fill(token)
                await by_id(page, "login-button").click()
                await expect(by_id(page, "who")).to_contain_text("ops-anna", timeout=TIMEOUT_MS)
                # A sample proposal is there; this one removes the Finnish seller.
                proposal = by_id(page, "what-if-proposal")
                await expect(proposal).to_have_value(re.compile(r"\"remove\""))
                await proposal.fill(json.dumps(PROPOSAL))
                await by_id(page, "what-if-run").click()

                await expect(by_id(page, "what-if-fi-a-actual")).to_have_text(
                    "2", timeout=TIMEOUT_MS
                )
                await expect(by_id(page, "what-if-fi-a-proposed")).to_have_text("0")
                await expect(by_id(page, "what-if-sv-b-actual")).to_have_text("1")
                await expect(by_id(page, "what-if-sv-b-proposed")).to_have_text("1")
                await expect(by_id(page, "what-if-nobody-proposed")).to_have_text("2")
                await expect(by_id(page, "what-if-summary")).to_contain_text(
                    "2 change owner, 2 nobody could take"
                )
                assert await by_id(page, "what-if-chart").locator("rect").count() >= 4

                # A refusal is shown, not swallowed.
                await proposal.fill('{"weeks": 99}')
                await by_id(page, "what-if-run").click()
                await expect(by_id(page, "what-if-status")).to_contain_text(
                    "What-if failed", timeout=TIMEOUT_MS
                )
                ARTIFACTS.mkdir(exist_ok=True)
                await by_id(page, "what-if-summary").scroll_into_view_if_needed()
                await page.screenshot(path=str(ARTIFACTS / "dashboard-what-if.png"))
            finally:
                await browser.close()
