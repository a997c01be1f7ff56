"""The Prometheus alerting rules load, fire when they should, name only metrics the kit
exports, and are wired into compose and (as an opt-in component) Kubernetes.

promtool comes from Debian's ``prometheus`` package (``.ci/run`` installs it). Without
it the promtool checks skip locally, but fail under ``CI=true``: CI must run them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_support import DEPLOY, K8S, compose, kubectl
from kauppa.servicekit.metrics import ServiceMetrics

RULES = DEPLOY / "prometheus/kauppa-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus/kauppa-alerts.test.yaml"
_METRIC = re.compile(r"\b(kauppa_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing in CI: .ci/run installs Debian's prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def run_promtool(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    out = run_promtool("check", "rules", RULES.name)
    assert f"SUCCESS: {len(rules())} rules found" in out


def test_the_rules_fire_as_their_unit_tests_expect() -> None:
    """Stalled consumer, dead-letter growth, outbox backlog and timer lateness, each on
    series that should fire it and ones that should not."""
    run_promtool("test", "rules", RULE_TESTS.name)
    tested = set(re.findall(r"alertname:\s*(\w+)", RULE_TESTS.read_text()))
    assert {
        "KauppaConsumerStalled",
        "KauppaDeadLettersGrowing",
        "KauppaOutboxBacklog",
        "KauppaTimersLate",
    } <= tested


def test_every_metric_the_rules_name_is_one_the_kit_exports() -> None:
    """The rules cannot drift from servicekit/metrics.py: a renamed metric fails here."""
    exported: set[str] = set()
    for family in ServiceMetrics("x").registry.collect():
        exported |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    named = {m for rule in rules() for m in _METRIC.findall(str(rule["expr"]))}
    assert named, "no kauppa_ metric found in the rules"
    assert named <= exported, f"not exported by the kit: {sorted(named - exported)}"
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]  # type: ignore[index]
        assert rule["annotations"]["summary"], rule["alert"]  # type: ignore[index]


def test_the_issue_asks_for_these_alerts() -> None:
    expressions = {str(rule["alert"]): str(rule["expr"]) for rule in rules()}
    assert "kauppa_consumer_stalled" in expressions["KauppaConsumerStalled"]
    assert "kauppa_dead_letters_total" in expressions["KauppaDeadLettersGrowing"]
    assert "kauppa_outbox_backlog" in expressions["KauppaOutboxBacklog"]
    assert "kauppa_timer_lateness_seconds_bucket" in expressions["KauppaTimersLate"]


def test_compose_prometheus_loads_the_rules() -> None:
    prometheus = compose()["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if ":" in v}
    config = yaml.safe_load((DEPLOY / "compose/prometheus/prometheus.yml").read_text())
    for path in config["rule_files"]:
        assert path in mounts, f"{path} is not mounted into the prometheus container"
        assert (DEPLOY / "compose" / mounts[path]).resolve() == RULES


def test_the_kubernetes_component_carries_the_same_rules(tmp_path: Path) -> None:
    rule = yaml.safe_load((K8S / "components/alerts/prometheus-rule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    # An overlay that opts in builds, and gets the rule in the kauppa namespace.
    tool = kubectl()
    shutil.copytree(K8S, tmp_path / "k8s")
    overlay = tmp_path / "k8s/overlays/with-alerts"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [../dev]\ncomponents: [../../components/alerts]\n"
    )
    args = [tool, "kustomize" if tool.endswith("kubectl") else "build", str(overlay)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    built = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "PrometheusRule"]
    assert len(built) == 1 and built[0]["metadata"]["namespace"] == "kauppa"
