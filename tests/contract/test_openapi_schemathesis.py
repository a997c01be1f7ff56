"""Each service's OpenAPI document tells the truth: schemathesis (its CLI, every phase:
examples, coverage, fuzzing, stateful; every default check) runs against each service
served over HTTP on the real broker and mongod, with a real bearer token (an admin of one
organisation, so it reaches past auth), and must find nothing.

The runs go at once (they mostly wait on the services' database and broker), each
bounded (``MAX_EXAMPLES`` per operation in fuzzing and stateful; the coverage phase is
as large as each schema). To reproduce one failure, schemathesis prints a curl command."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kauppa.devkit.testing.served import served
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.settings import KafkaSettings, MongoSettings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")  # 413 is a refusal too
MAX_EXAMPLES = 20
ORG = "org-contract"
SERVICES = ["handoff", "closing", "confirmation", "followup", "webhooks", "dashboard"]


def _app(
    service: str, kafka: KafkaSettings, mongo: MongoSettings, **overrides: Any
) -> tuple[Any, Any]:
    if service == "handoff":
        from kauppa.handoff.bootstrap import build_app
        from kauppa.handoff.settings import HandoffSettings as S

        extra: dict[str, Any] = {"business_hours_only": False}
    elif service == "closing":
        from kauppa.closing.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.closing.settings import ClosingSettings as S  # type: ignore[no-redef]

        extra = {}
    elif service == "confirmation":
        from kauppa.confirmation.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.confirmation.settings import ConfirmationSettings as S  # type: ignore[no-redef]

        extra = {"default_policy": "seller_review"}
    elif service == "followup":
        from kauppa.followup.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.followup.settings import FollowupSettings as S  # type: ignore[no-redef]

        extra = {"audit_interval_minutes": 60 * 24 * 365}
    elif service == "webhooks":
        from kauppa.webhooks.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.webhooks.settings import WebhooksSettings as S  # type: ignore[no-redef]

        extra = {}
    else:
        from kauppa.dashboard.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.dashboard.settings import DashboardSettings as S  # type: ignore[no-redef]

        extra = {"service_urls": {}}
    extra.update(overrides)
    tag = uuid.uuid4().hex[:8]
    settings = S(
        service_name=service,
        database=f"t_{service}_{tag}",
        consumer_group=f"t-{service}-{tag}",
        kafka=kafka,
        mongo=mongo,
        log_format="console",
        **extra,
    )
    return settings, build_app(settings)


def _schemathesis(base_url: str, token: str, report: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(SCHEMATHESIS),
            f"--config-file={CONFIG}",
            "run",
            f"{base_url}/openapi.json",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--max-examples={MAX_EXAMPLES}",
            "--seed=22",
            "--generation-database=none",
            "--no-color",
            "--workers=1",  # CPython 3.11's ast.parse is not thread-safe (hypothesis uses it)
            f"--header=Authorization: Bearer {token}",
            "--report=ndjson",
            f"--report-ndjson-path={report}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=report.parent,  # its cache directory (.schemathesis/) goes there, not in the repo
    )


def selected(request: pytest.FixtureRequest) -> list[str]:
    """The services whose test this session runs (``-k webhooks`` serves only webhooks)."""
    chosen = {
        item.callspec.params["service"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_schemathesis_finds_nothing"
    }
    return [s for s in SERVICES if s in chosen]


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest,
    kafka_settings: KafkaSettings,
    mongo_settings: MongoSettings,
    tmp_path_factory: Any,
) -> Iterator[dict[str, tuple[int, str]]]:
    """Every selected service served, schemathesis run against each at once: exit code,
    output."""
    reports = tmp_path_factory.mktemp("schemathesis")
    results: dict[str, tuple[int, str]] = {}
    with ExitStack() as stack:
        runs = {}
        for service in selected(request):
            overrides: dict[str, Any] = {}
            if service == "dashboard":  # its what-if forwards to a real handoff
                _, handoff = _app("handoff", kafka_settings, mongo_settings)
                overrides["service_urls"] = {"handoff": stack.enter_context(served(handoff))}
            settings, app = _app(service, kafka_settings, mongo_settings, **overrides)
            base_url = stack.enter_context(served(app))
            token = issue_token(settings, "admin-1", ["admin"], organisation_id=ORG)
            runs[service] = _schemathesis(base_url, token, reports / f"{service}.ndjson")
        for service, process in runs.items():
            try:
                output, _ = process.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            results[service] = (process.returncode, output)
    yield results


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_nothing(service: str, runs: dict[str, tuple[int, str]]) -> None:
    returncode, output = runs[service]
    assert returncode == 0, output[-20000:]
