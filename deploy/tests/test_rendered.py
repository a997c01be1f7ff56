"""Generated deploy files match deploy/render.py, and match the contracts and the
services on their own terms (so the generator cannot be wrong in the same way)."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml
from deploy_support import DEPLOY, REPO, render, service_names, settings_class
from kauppa.contracts.topics import SERVICES as CONTRACT_SERVICES
from kauppa.contracts.topics import all_topics, dead_letter_topic

DEPLOYED = set(service_names())


def expected_topics() -> dict[str, tuple[int, int]]:
    """name -> (partitions, retention.ms), straight from contracts/topics.py."""
    return {
        t.name: (t.partitions, t.retention_days * 86_400_000)
        for t in all_topics()
        if not t.name.startswith("kauppa.dlq.") or t.name.removeprefix("kauppa.dlq.") in DEPLOYED
    }


def test_committed_files_are_what_render_produces() -> None:
    stale = [str(p.relative_to(REPO)) for p in render().stale()]
    assert not stale, f"run `.venv/bin/python deploy/render.py`; stale: {stale}"


def test_every_deployed_service_has_a_dead_letter_topic_in_the_contracts() -> None:
    assert set(CONTRACT_SERVICES) >= DEPLOYED
    for service in DEPLOYED:
        assert dead_letter_topic(service).name in expected_topics()


def test_strimzi_topics_match_the_contracts() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s/base/kafka/topics.yaml").read_text()))
    got = {
        d["spec"]["topicName"]: (d["spec"]["partitions"], d["spec"]["config"]["retention.ms"])
        for d in docs
    }
    assert got == expected_topics()
    for d in docs:
        assert (
            d["kind"] == "KafkaTopic" and d["metadata"]["labels"]["strimzi.io/cluster"] == "kauppa"
        )
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"])
        assert d["spec"]["replicas"] >= d["spec"]["config"]["min.insync.replicas"] + 1


def test_compose_topic_script_matches_the_contracts() -> None:
    script = (DEPLOY / "compose/kafka/create-topics.sh").read_text()
    got = {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^create (\S+) (\d+) (\d+)", script, re.M)
    }
    assert got == expected_topics()
    assert "--if-not-exists" in script


# ---------------------------------------------------------------- Dockerfiles


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("service", sorted(DEPLOYED))
def test_dockerfile_is_multistage_pinned_non_root_and_checks_health(service: str) -> None:
    path = DEPLOY / f"docker/{service}.Dockerfile"
    steps = instructions(path.read_text())
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) >= 3, "uv, build and runtime stages"
    for image in froms:
        ref = image.split()[0]
        ref = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref)
        assert re.search(r":\d+\.\d+\.\d+", ref), f"{ref} is not pinned to a version"
    assert re.search(
        r"uv sync --frozen --no-dev .*--package kauppa-" + service + r"\b",
        " ".join(r for w, r in steps if w == "RUN"),
    )
    user = [rest for word, rest in steps if word == "USER"]
    assert user and not user[-1].startswith(("0", "root")), "runs as an unprivileged user"
    # Every COPY from the build context exists in the repository.
    for word, rest in steps:
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = rest.split()
            for src in sources:
                assert (REPO / src).exists(), f"COPY {src}: not in the repository"
    # uv needs every workspace member's pyproject.toml to honour uv.lock.
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    ignore = (DEPLOY / f"docker/{service}.Dockerfile.dockerignore").read_text()
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for member in REPO.glob(pattern):
            if (member / "pyproject.toml").exists():
                rel = member.relative_to(REPO).as_posix()
                assert ("COPY", f"{rel}/pyproject.toml {rel}/") in steps, rel
                if rel.split("/")[0] not in ("contracts", "servicekit", "services"):
                    # a member whose code no image installs: only its manifest passes
                    assert f"!{rel}/pyproject.toml" in ignore.splitlines(), rel
    # The health check asks /health/live on the port the settings listen on.
    port = settings_class(service).model_fields["http_port"].default
    health = next(rest for word, rest in steps if word == "HEALTHCHECK")
    assert "/health/live" in health and f"'{port}'" in health and "curl" not in health
    command = json.loads(health.split("CMD", 1)[1])  # exec form: valid JSON
    assert command[:2] == ["python", "-c"]
    compile(command[2], "healthcheck", "exec")  # the stdlib probe is valid Python
    assert ("EXPOSE", str(port)) in steps
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert f"{service.upper()}_HTTP_HOST=0.0.0.0" in env
    # The entry point is the service's console script.
    project = tomllib.loads((REPO / f"services/{service}/pyproject.toml").read_text())
    assert f"kauppa-{service}" in project["project"]["scripts"]
    assert ("ENTRYPOINT", f'["kauppa-{service}"]') in steps
    assert (DEPLOY / f"docker/{service}.Dockerfile.dockerignore").exists()
