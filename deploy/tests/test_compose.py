"""Docker Compose, Prometheus and Grafana provisioning parse and are wired together."""

from __future__ import annotations

import json

import yaml
from deploy_support import DEPLOY, compose, compose_env, render

COMPOSE_DIR = DEPLOY / "compose"


def test_compose_parses_and_every_mounted_or_built_file_exists() -> None:
    doc = compose()
    for name, svc in doc["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} missing"
        if "build" in svc:
            context = COMPOSE_DIR / svc["build"]["context"]
            assert (context / svc["build"]["dockerfile"]).exists(), name
        for dep in svc.get("depends_on", {}):
            assert dep in doc["services"], f"{name} depends on unknown {dep}"
    named = {
        v.split(":")[0]
        for s in doc["services"].values()
        for v in s.get("volumes", [])
        if not v.startswith(".")
    }
    assert named <= set(doc["volumes"])


def test_kafka_is_kraft_with_replication_and_no_auto_created_topics() -> None:
    services = compose()["services"]
    brokers = [n for n in services if n.startswith("kafka")]
    assert len(brokers) == 3 and "zookeeper" not in services
    for name in brokers:
        env = compose_env(name)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert len(env["CLUSTER_ID"]) == 22  # a base64url UUID
    init = services["topic-init"]
    assert any("create-topics.sh" in v for v in init["volumes"])


def test_services_wait_for_topics_and_the_replica_set() -> None:
    services = compose()["services"]
    for svc in render().SERVICES:
        deps = services[svc.name]["depends_on"]
        assert deps["topic-init"]["condition"] == "service_completed_successfully"
        assert deps["mongo-init"]["condition"] == "service_completed_successfully"
        assert "--replSet" in services["mongo1"]["command"]


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((COMPOSE_DIR / "prometheus/prometheus.yml").read_text())
    targets = {
        (sd["names"][0], sd["port"])
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
    }
    for svc in render().SERVICES:
        assert (svc.name, svc.port) in targets, svc.name


def test_grafana_provisions_the_datasource_the_dashboards_use() -> None:
    ds = yaml.safe_load(
        (COMPOSE_DIR / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    uids = {d["uid"] for d in ds["datasources"]}
    provider = yaml.safe_load(
        (COMPOSE_DIR / "grafana/provisioning/dashboards/kauppa.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    grafana = compose()["services"]["grafana"]
    assert any(
        v.endswith(f":{path}:ro") and v.startswith("./grafana/dashboards")
        for v in grafana["volumes"]
    )
    dashboards = sorted((COMPOSE_DIR / "grafana/dashboards").glob("*.json"))
    assert len(dashboards) >= 2
    for path in dashboards:
        doc = json.loads(path.read_text())
        assert doc["uid"] and doc["panels"]
        for panel in doc["panels"]:
            assert panel["datasource"]["uid"] in uids
            assert all(t["expr"] for t in panel["targets"])
