"""Unit tests of the dashboard's pure rules (no I/O)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

from kauppa.dashboard.domain.funnel import funnel, ratio
from kauppa.dashboard.domain.health import metric_totals, service_health
from kauppa.dashboard.domain.latency import percentile, summarise
from kauppa.dashboard.domain.periods import BEGINNING, Period, period_start
from kauppa.dashboard.domain.quality import COUNTS, QualityRow, quality_row, rank
from kauppa.servicekit.metrics import ServiceMetrics
from prometheus_client import generate_latest

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_period_today_starts_at_local_midnight_not_utc():
    start = period_start(Period.TODAY, datetime(2026, 3, 10, 23, 30, tzinfo=UTC), "Europe/Helsinki")
    # 23:30 UTC is already 01:30 on the 11th in Helsinki (UTC+2 in March).
    assert start == datetime(2026, 3, 10, 22, 0, tzinfo=UTC)


def test_period_week_month_and_all():
    assert period_start(Period.WEEK, NOW) == NOW - timedelta(days=7)
    assert period_start(Period.MONTH, NOW) == NOW - timedelta(days=30)
    assert period_start(Period.ALL, NOW) == BEGINNING


def test_funnel_keeps_stage_order_and_measures_each_stage_against_its_predecessor():
    steps = funnel({"qualified": 10, "assigned": 8, "accepted": 6, "returned": 2, "closed": 3})
    by = {s.stage: s for s in steps}
    assert [s.stage for s in steps][:3] == ["qualified", "rejected_at_gate", "assigned"]
    assert by["assigned"].percent == 80.0
    assert by["accepted"].percent == 75.0
    assert by["closed"].percent == 50.0
    assert by["qualified"].percent is None
    assert by["confirmed"].count == 0 and by["confirmed"].percent == 0.0
    assert by["feedback_done"].percent is None  # nothing delivered: no ratio, not 0 %


def test_ratio_of_nothing_is_unknown_not_zero():
    assert ratio(0, 0) is None
    assert ratio(1, 3) == 33.3


def test_d2_acceptance_rate_is_accepted_over_verdicts():
    row = quality_row(
        "alpha", {"qualified": 10, "accepted": 3, "returned": 1, "closed": 2}, ["no_budget"]
    )
    assert row.acceptance_rate == 75.0
    assert row.conversion_rate == 66.7


def test_d3_return_reasons_are_counted_per_source():
    row = quality_row(
        "beta",
        {"returned": 3},
        ["not_interested", None, "not_interested", "no_budget"],
    )
    assert row.as_dict()["return_reasons"] == {"not_interested": 2, "no_budget": 1}


def test_d4_sources_without_verdicts_have_no_rate_and_unnamed_sources_are_labelled():
    row = quality_row(None, {"qualified": 4, "rejected_at_gate": 1}, [])
    assert row.name == "(none)"
    assert row.acceptance_rate is None and row.conversion_rate is None
    assert row.gate_rejection_rate == 25.0


def test_quality_counts_are_the_rows_counters():
    counters = {f.name for f in fields(QualityRow)} - {"name", "return_reasons", "queue_reasons"}
    assert set(COUNTS) == counters
    row = quality_row("a", {c: n for n, c in enumerate(COUNTS, 1)}, [])
    assert [row.as_dict()[c] for c in COUNTS] == list(range(1, len(COUNTS) + 1))


def test_d4_busiest_sources_first():
    rows = rank([quality_row("a", {"qualified": 1}, []), quality_row("b", {"qualified": 5}, [])])
    assert [r.name for r in rows] == ["b", "a"]


def test_d11_latency_histogram_and_percentiles():
    s = summarise([30, 600, 5400, 5400, 20 * 3600, 3 * 86400, -5])
    counts = dict(s.histogram)
    assert s.count == 7
    assert counts["< 1 min"] == 2  # negative (clock skew) counts as zero
    assert counts["< 15 min"] == 1
    assert counts["< 4 h"] == 2
    assert counts["< 24 h"] == 1
    assert counts["< 4 d"] == 1
    assert s.p50_seconds == 5400
    assert s.max_seconds == 3 * 86400


def test_latency_of_nothing():
    s = summarise([])
    assert s.count == 0 and s.p50_seconds is None and all(n == 0 for _, n in s.histogram)
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == 4.0


def test_health_reads_the_kits_own_metrics_text():
    m = ServiceMetrics("handoff")
    m.consumer_lag.labels("handoff", "t", "0").set(5)
    m.consumer_lag.labels("handoff", "t", "1").set(7)
    m.dead_letters.labels("handoff", "schema_invalid").inc(2)
    m.dead_letters.labels("handoff", "handler_error").inc()
    m.outbox_backlog.labels("handoff").set(4)
    text = generate_latest(m.registry).decode()
    totals = metric_totals(text)
    assert totals["consumer_lag"] == 12
    assert totals["dead_letters"] == 3
    assert totals["outbox_backlog"] == 4


def test_health_declared_metric_without_samples_is_zero_and_missing_is_unknown():
    text = generate_latest(ServiceMetrics("x").registry).decode()
    assert metric_totals(text)["dead_letters"] == 0
    assert "dead_letters" not in metric_totals("# nothing here\n")


def test_health_status_down_not_ready_ready():
    down = service_health("a", "u", ready_status=None, ready_body=None, metrics_text=None)
    assert down.status == "down"
    sick = service_health(
        "a",
        "u",
        ready_status=503,
        ready_body={"checks": {"kafka": "unavailable"}},
        metrics_text=None,
    )
    assert sick.status == "not_ready" and sick.checks == {"kafka": "unavailable"}
    ok = service_health("a", "u", ready_status=200, ready_body={}, metrics_text=None)
    assert ok.status == "ready"


def test_health_odd_ready_body_and_bad_metrics_still_make_one_answer():
    """A ready body that is no JSON object, with metrics that are not Prometheus text:
    reachable, no checks, no numbers, and the error says why (not an exception)."""
    h = service_health(
        "a", "u", ready_status=200, ready_body=["ok"], metrics_text="<html>oops</html>"
    )
    assert h.status == "ready" and h.checks == {}
    assert h.dead_letters is None and h.consumer_lag is None
    assert h.error is not None and h.error.startswith("bad metrics:")
    odd_checks = service_health(
        "a", "u", ready_status=503, ready_body={"checks": "x"}, metrics_text=None
    )
    assert odd_checks.status == "not_ready" and odd_checks.checks == {}
