"""The kustomizations build, every built-in object validates against the Kubernetes
JSON schemas shipped offline with kubernetes-validate, and the workloads are wired
the way the reliability design needs (probes, resources, PDBs, lag autoscaling)."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
from deploy_support import DEPLOY, KUSTOMIZATIONS, build, find, render, service_names

K8S_VERSION = "1.30.0"
CRDS = {
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
SERVICES = service_names()


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_object_validates(kustomization: str) -> None:
    objects = build(kustomization)
    assert objects
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CRDS:
            assert obj["metadata"]["name"] and isinstance(obj.get("spec"), dict)
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}") from exc
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "kauppa"


def test_the_validator_rejects_a_broken_object() -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80, "targetprot": 8080}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_service_has_probes_resources_a_service_and_a_pdb(kustomization: str) -> None:
    objects = build(kustomization)
    for name in SERVICES:
        (deployment,) = find(objects, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        port = c["ports"][0]
        assert port["name"] == "http"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert {"cpu", "memory"} <= set(c["resources"]["requests"])
        assert "memory" in c["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        # Graceful stop (uvicorn 20 s + runtime 15 s) fits in the grace period.
        assert pod["terminationGracePeriodSeconds"] >= 35
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (svc,) = find(objects, "Service", name)
        assert svc["spec"]["ports"][0]["port"] == port["containerPort"]
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        (pdb,) = find(objects, "PodDisruptionBudget", name)
        assert all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port["containerPort"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_lag_autoscaling_targets_the_consumer_group_and_stays_within_partitions(
    kustomization: str,
) -> None:
    objects = build(kustomization)
    topics = find(objects, "KafkaTopic")
    fewest_partitions = min(t["spec"]["partitions"] for t in topics)
    scaled = {o["metadata"]["name"]: o for o in find(objects, "ScaledObject")}
    for svc in render().SERVICES:
        if not svc.autoscale:
            assert svc.name not in scaled
            continue
        so = scaled[svc.name]["spec"]
        assert find(objects, "Deployment", so["scaleTargetRef"]["name"])
        (trigger,) = so["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == f"kauppa-{svc.name}"  # the kit's default
        bootstrap = trigger["metadata"]["bootstrapServers"]
        (config,) = find(objects, "ConfigMap", "kauppa-shared")
        assert bootstrap == config["data"]["KAFKA_BOOTSTRAP_SERVERS"]
        assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"] <= fewest_partitions


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kafka_is_kraft_and_topics_fit_the_cluster(kustomization: str) -> None:
    objects = build(kustomization)
    (kafka,) = find(objects, "Kafka")
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    (pool,) = find(objects, "KafkaNodePool")
    assert {"controller", "broker"} <= set(pool["spec"]["roles"])
    brokers = pool["spec"]["replicas"]
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    for topic in find(objects, "KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["spec"]["replicas"] <= brokers
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"]
    (mongo,) = find(objects, "StatefulSet", "mongodb")
    assert "--replSet" in mongo["spec"]["template"]["spec"]["containers"][0]["args"]


def test_dev_ships_placeholder_secrets_and_production_does_not() -> None:
    assert find(build("overlays/dev"), "Secret", "kauppa-secrets")
    assert not find(build("overlays/production"), "Secret", "kauppa-secrets")


def test_readme_secret_command_covers_every_key_the_cluster_reads() -> None:
    """Production has no Secret in git: the README's command must create every key."""
    objects = build("overlays/production")
    wanted: set[str] = set()
    for obj in objects:
        text = repr(obj)
        wanted |= set(
            re.findall(r"'secretKeyRef': \{'name': 'kauppa-secrets', 'key': '([\w-]+)'", text)
        )
        wanted |= {
            i["key"]
            for v in obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
            if v.get("secret", {}).get("secretName") == "kauppa-secrets"
            for i in v["secret"]["items"]
        }
    readme = (DEPLOY / "README.md").read_text()
    documented = set(re.findall(r"--from-(?:literal|file)=([\w-]+)=", readme))
    assert wanted, "found no secret references"
    assert wanted <= documented, f"README's secret command misses {sorted(wanted - documented)}"
