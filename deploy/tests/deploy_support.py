"""Shared by the deploy checks: load the render script, build kustomizations, read
compose, and map environment variables to the settings classes that read them."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from kauppa.servicekit.settings import (
    ClockSettings,
    KafkaSettings,
    MongoSettings,
    ServiceSettings,
    TracingSettings,
)
from pydantic import AliasChoices

DEPLOY = Path(__file__).resolve().parents[1]
REPO = DEPLOY.parent
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/production")
NESTED = {"kafka", "mongo", "clock", "tracing"}


@cache
def render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kauppa_deploy_render", DEPLOY / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def service_names() -> list[str]:
    return [s.name for s in render().SERVICES]


def settings_class(service: str) -> type[ServiceSettings]:
    """The ServiceSettings subclass in kauppa.<service>.settings."""
    try:
        module = importlib.import_module(f"kauppa.{service}.settings")
    except ImportError as exc:  # a service still being written
        pytest.skip(f"kauppa.{service}.settings cannot be imported yet: {exc}")
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, ServiceSettings)
        and v is not ServiceSettings
        and v.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"expected one settings class in {module.__name__}: {classes}"
    return classes[0]


def known_env(cls: type[ServiceSettings]) -> dict[str, str]:
    """Every environment variable a service reads -> the field it sets."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = {
        f"{prefix}{f}".upper(): f"{cls.__name__}.{f}" for f in cls.model_fields if f not in NESTED
    }
    for sub, sub_prefix in (
        (KafkaSettings, "KAFKA_"),
        (MongoSettings, "MONGODB_"),
        (ClockSettings, "KAUPPA_CLOCK_"),
        (TracingSettings, ""),
    ):
        for f, info in sub.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                for choice in alias.choices:
                    names[str(choice)] = f"{sub.__name__}.{f}"
                continue
            name = alias if isinstance(alias, str) else f"{sub_prefix}{f}".upper()
            names[name] = f"{sub.__name__}.{f}"
    return names


def load_settings(
    cls: type[ServiceSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    """Build the settings exactly as the process would, from this environment only."""
    import os

    prefix = str(cls.model_config.get("env_prefix", ""))
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "MONGODB_", "KAUPPA_", prefix)):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cls()


# ---------------------------------------------------------------- compose

_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any) -> str:
    """Compose's ${VAR:-default} / ${VAR:?error} with nothing set: defaults, and a dummy
    for required values (what `docker compose config` would need from .env)."""

    def sub(m: re.Match[str]) -> str:
        op, arg = m.group(2), m.group(3)
        if op in (":-", "-"):
            return arg or ""
        if op in (":?", "?"):
            return f"test-{m.group(1).lower()}"
        return ""

    return _INTERPOLATION.sub(sub, str(value))


@cache
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


def compose_env(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment", {})
    assert isinstance(env, dict), "use the mapping form for environment"
    return {k: interpolate(v) for k, v in env.items()}


# ---------------------------------------------------------------- kustomize


def kubectl() -> str:
    path = shutil.which("kubectl") or shutil.which("kustomize")
    if path is None:
        pytest.skip("neither kubectl nor kustomize is installed")
    return path


@cache
def build(kustomization: str) -> tuple[dict[str, Any], ...]:
    tool = kubectl()
    args = (
        [tool, "kustomize", str(K8S / kustomization)]
        if tool.endswith("kubectl")
        else [tool, "build", str(K8S / kustomization)]
    )
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def find(
    objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None
) -> list[dict[str, Any]]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def container_env(
    objects: tuple[dict[str, Any], ...], container: dict[str, Any], dummy_secrets: bool
) -> dict[str, str]:
    """A container's environment resolved from the built objects (ConfigMaps, Secrets)."""

    def data(kind: str, name: str) -> dict[str, str]:
        found = find(objects, kind, name)
        if not found:
            if kind == "Secret" and dummy_secrets:
                return {}
            raise AssertionError(
                f"{kind} {name} referenced by {container['name']} is not in the build"
            )
        obj = found[0]
        return {**obj.get("data", {}), **obj.get("stringData", {})}

    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(data("ConfigMap", source["configMapRef"]["name"]))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]
        kind, key = (
            ("Secret", ref.get("secretKeyRef"))
            if "secretKeyRef" in ref
            else ("ConfigMap", ref["configMapKeyRef"])
        )
        values = data(kind, key["name"])
        if key["key"] not in values:
            if kind == "Secret" and dummy_secrets:
                env[var["name"]] = f"secret-{key['key']}"
                continue
            raise AssertionError(f"{kind} {key['name']} has no key {key['key']} ({var['name']})")
        env[var["name"]] = values[key["key"]]
    return env
