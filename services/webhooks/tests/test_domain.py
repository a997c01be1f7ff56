"""The pure rules: signing (checked by the standardwebhooks reference library), retries,
targets and matching."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import LeadSource, examples
from kauppa.contracts.bounds import TEXT_MAX
from kauppa.contracts.events.leads import LeadReassigned
from kauppa.webhooks.domain import signing
from kauppa.webhooks.domain.catalogue import DELIVERABLE_BY_NAME, Filters, facts_of, matches
from kauppa.webhooks.domain.retries import (
    AttemptOutcome,
    backoff,
    disabled_notice,
    next_try,
    parse_retry_after,
    should_disable,
)
from kauppa.webhooks.domain.targets import (
    TargetRefused,
    check_addresses,
    check_url,
    refused_address,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def test_signatures_verify_with_the_reference_library_for_each_secret() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    assert old.startswith("whsec_") and old != new
    body = b'{"id":"e-1","data":{"x":"\xc3\xa4"}}'
    headers = signing.headers([old, new], "e-1", int(time.time()), body)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["id"] == "e-1"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body + b" ", headers)


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    base, cap = timedelta(seconds=5), timedelta(hours=1)
    for attempts in range(1, 20):
        d = backoff(attempts, base, cap, rng)
        nominal = min(base * 2 ** (attempts - 1), cap)
        assert nominal / 2 <= d <= nominal
    # Retries reach beyond 24 h before the default disable time (36 h) with the default cap.
    total = sum((backoff(n, base, cap, random.Random(n)) for n in range(1, 60)), timedelta())
    assert total > timedelta(hours=24)


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(seconds=120)
    assert parse_retry_after("Mon, 02 Mar 2026 09:01:00 GMT", now) == timedelta(seconds=60)
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
    base, cap, ra_cap = timedelta(seconds=1), timedelta(seconds=10), timedelta(hours=1)
    told = AttemptOutcome(429, 1.0, "HTTP 429", timedelta(seconds=30))
    assert next_try(told, 1, base, cap, ra_cap) == timedelta(seconds=30)
    huge = AttemptOutcome(503, 1.0, "HTTP 503", timedelta(days=3))
    assert next_try(huge, 1, base, cap, ra_cap) == ra_cap


def test_disabled_only_after_failing_the_whole_time() -> None:
    assert not should_disable(None, timedelta(hours=1))
    assert not should_disable(timedelta(minutes=59), timedelta(hours=1))
    assert should_disable(timedelta(hours=1), timedelta(hours=1))


def test_targets_https_only_and_no_internal_addresses_outside_the_local_profile() -> None:
    assert check_url("https://hooks.example.com/x", local=False) == "hooks.example.com"
    assert check_url("http://127.0.0.1:9000/x", local=True) == "127.0.0.1"
    for url in ("http://hooks.example.com/x", "ftp://x/y", "https://u:p@x.example/y", "https:///x"):
        with pytest.raises(TargetRefused):
            check_url(url, local=False)
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "::1",
        "fe80::1%eth0",
        "fd00::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
    ):
        assert refused_address(address), address
    assert refused_address("93.184.215.14") is None
    assert refused_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c") is None
    # One internal address among public ones is enough to refuse.
    with pytest.raises(TargetRefused):
        check_addresses("h", ["93.184.215.14", "10.0.0.1"], local=False)
    check_addresses("h", ["10.0.0.1"], local=True)
    with pytest.raises(TargetRefused):
        check_addresses("h", [], local=True)


def test_matching_by_organisation_type_source_partner_and_seller() -> None:
    assert "LeadAssigned" in DELIVERABLE_BY_NAME and "LeadReturned" in DELIVERABLE_BY_NAME
    closed = examples.deal_closed(
        organisation_id="org-a", source=LeadSource(system="web", partner="acme")
    )
    facts = facts_of(closed)
    types = frozenset({"DealClosed"})
    assert matches(facts, "org-a", types, Filters())
    assert not matches(facts, "org-b", types, Filters())
    assert not matches(facts, "org-a", frozenset({"DealLost"}), Filters())
    assert matches(facts, "org-a", types, Filters(source_system="web", partner="acme"))
    assert not matches(facts, "org-a", types, Filters(source_system="web", partner="other"))
    assert not matches(facts, "org-a", types, Filters(source_system="crm"))
    assert matches(facts, "org-a", types, Filters(seller_id=closed.seller.seller_id))
    assert not matches(facts, "org-a", types, Filters(seller_id="someone-else"))
    # An event without the source is matched by the source remembered for its lead.
    moved = LeadReassigned(
        lead_id="lead-1",
        organisation_id="org-a",
        from_seller_id="s-1",
        to_seller_id="s-2",
        reassigned_at=datetime.now(UTC),
    )
    assert not matches(
        facts_of(moved), "org-a", frozenset({"LeadReassigned"}), Filters(source_system="web")
    )
    remembered = facts_of(moved, ("web", None))
    assert matches(remembered, "org-a", frozenset({"LeadReassigned"}), Filters(source_system="web"))
    assert matches(remembered, "org-a", frozenset({"LeadReassigned"}), Filters(seller_id="s-2"))


def test_the_disabled_notice_names_the_receiver_by_its_host_only() -> None:
    url = "https://hooks.example.com:8443/in/abc?token=receiver-secret"
    since = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    notice = disabled_notice(
        "whsub_1", "org-a", url, since, since + timedelta(hours=36), f"not an http(s) URL: {url}"
    )
    assert notice.url_host == "hooks.example.com"
    assert "receiver-secret" not in notice.model_dump_json() and "/in/abc" not in notice.reason
    assert notice.reason.startswith("failing since 2026-03-02T09:00:00+00:00: ")
    long = disabled_notice("whsub_1", "org-a", url, since, since, "x" * 10_000)
    assert len(long.reason) == TEXT_MAX  # bounded as the contract says
