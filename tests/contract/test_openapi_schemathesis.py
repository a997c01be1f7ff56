"""Each service's OpenAPI document tells the truth: schemathesis (its CLI, every phase:
examples, coverage, fuzzing, stateful) runs against each service served over HTTP on the
real broker and mongod, with real bearer tokens, and must find nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.testing.served import served

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 25
ORG = "org-contract"


def _app(service: str, settings_for: Any) -> Any:
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
    else:
        from kauppa.dashboard.bootstrap import build_app  # type: ignore[no-redef]
        from kauppa.dashboard.settings import DashboardSettings as S  # type: ignore[no-redef]

        extra = {"service_urls": {}}
    settings = settings_for(S, service_name=service, **extra)
    return settings, build_app(settings)


def _schemathesis(base_url: str, token: str, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base_url}/openapi.json",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--max-examples={MAX_EXAMPLES}",
            "--seed=22",
            "--generation-database=none",
            "--no-color",
            "--workers=1",  # CPython 3.11 ast.parse is not thread-safe (hypothesis uses it)
            f"--header=Authorization: Bearer {token}",
            "--report=ndjson",
            f"--report-ndjson-path={report}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.integration
@pytest.mark.parametrize("service", ["handoff", "closing", "confirmation", "followup", "dashboard"])
def test_schemathesis_finds_nothing(service: str, settings_for: Any, tmp_path: Path) -> None:
    settings, app = _app(service, settings_for)
    token = issue_token(settings, "admin-1", ["admin"], organisation_id=ORG)
    with served(app) as base_url:
        run = _schemathesis(base_url, token, tmp_path / "events.ndjson")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
