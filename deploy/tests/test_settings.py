"""Every setting compose and Kubernetes give a service is one its settings class reads
(pydantic-settings ignores unknown variables, so a typo would silently do nothing), and
the values parse into production-minded settings."""

from __future__ import annotations

import pytest
from deploy_support import (
    KUSTOMIZATIONS,
    build,
    compose,
    compose_env,
    container_env,
    find,
    known_env,
    load_settings,
    render,
    service_names,
    settings_class,
)

SERVICES = service_names()


def assert_known(service: str, env: dict[str, str], where: str) -> None:
    known = known_env(settings_class(service))
    unknown = sorted(set(env) - set(known))
    assert not unknown, f"{where}: {service} does not read {unknown}"


def assert_production_minded(service: str, settings, port: int) -> None:
    assert settings.service_name == service
    assert settings.http_host == "0.0.0.0", "must listen beyond the container's loopback"
    assert settings.http_port == port
    assert settings.log_format == "json"
    kafka = settings.kafka
    assert kafka.profile == "production"
    assert kafka.enable_idempotence is True and kafka.acks == "all"
    assert kafka.session_timeout_ms >= 6000, "real Kafka needs real session timeouts"
    assert kafka.heartbeat_interval_ms * 3 <= kafka.session_timeout_ms
    assert settings.mongo.write_concern == "majority"
    assert "replicaSet=" in settings.mongo.uri or settings.mongo.uri.startswith("secret-")
    assert settings.jwt_secret != type(settings).model_fields["jwt_secret"].default, (
        "the development JWT secret must be replaced"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_compose_env_names_exist_in_the_settings_class(service: str) -> None:
    assert service in compose()["services"], f"compose has no {service}"
    assert_known(service, compose_env(service), "compose")


@pytest.mark.parametrize("service", SERVICES)
def test_compose_env_builds_production_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = next(s.port for s in render().SERVICES if s.name == service)
    settings = load_settings(settings_class(service), compose_env(service), monkeypatch)
    assert_production_minded(service, settings, port)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("service", SERVICES)
def test_k8s_env_names_exist_and_build_production_settings(
    service: str, kustomization: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = build(kustomization)
    (deployment,) = find(objects, "Deployment", service)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = container_env(objects, container, dummy_secrets=kustomization.endswith("production"))
    assert_known(service, env, kustomization)
    port = container["ports"][0]["containerPort"]
    settings = load_settings(settings_class(service), env, monkeypatch)
    assert_production_minded(service, settings, port)


def test_the_env_check_catches_a_typo() -> None:
    """The check above can fail: a misspelt variable is reported."""
    known = known_env(settings_class("handoff"))
    assert "HANDOFF_REMINDER_AFTER_HOURS" in known and "KAFKA_ACKS" in known
    assert "HANDOFF_REMINDER_AFTER_HOUR" not in known
    assert "KAFKA_ENABLE_IDEMPOTENT" not in known
