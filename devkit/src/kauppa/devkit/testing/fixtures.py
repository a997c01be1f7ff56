"""pytest fixtures on real infrastructure. Enable with
``pytest_plugins = ["kauppa.devkit.testing.fixtures"]``."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kauppa.devkit.embedded import Infrastructure, provide_infrastructure
from kauppa.servicekit.emits import set_strict
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, MongoSettings, ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[5]

# In tests an event emitted but not declared where its handler is registered fails (so
# the AsyncAPI documents, built from the declarations, cannot drift from the code).
set_strict(True)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    """A broker and a mongod for the whole test session (explicit > Docker > embedded)."""
    data_dir = REPO_ROOT / ".local" / f"test-infra-{os.getpid()}"
    try:
        with provide_infrastructure(data_dir) as infrastructure:
            yield infrastructure
    finally:  # the servers are stopped: their data goes too
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_settings(infra: Infrastructure) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=infra.kafka_bootstrap_servers, profile=infra.profile)


@pytest.fixture(scope="session")
def mongo_settings(infra: Infrastructure) -> MongoSettings:
    return MongoSettings(uri=infra.mongodb_uri)


SettingsFactory = Callable[..., Any]


@pytest.fixture
def settings_for(kafka_settings: KafkaSettings, mongo_settings: MongoSettings) -> SettingsFactory:
    """``settings_for(SettingsClass, service_name=..., **overrides)`` with a database and
    consumer group of the test's own, so tests do not see each other's state."""

    def make(cls: type[ServiceSettings] = ServiceSettings, **overrides: Any) -> ServiceSettings:
        tag = uuid.uuid4().hex[:8]
        name = overrides.pop("service_name", "test")
        values: dict[str, Any] = {
            "service_name": name,
            "database": f"t_{name}_{tag}",
            "consumer_group": f"t-{name}-{tag}",
            "kafka": kafka_settings,
            "mongo": mongo_settings,
            "outbox_relay_grace_seconds": 1.0,
            "timer_poll_max_seconds": 0.1,
            "log_format": "console",
        }
        values.update(overrides)
        if values["kafka"].profile != "local":  # the production auth rules apply
            values.setdefault("jwt_secret", f"tests-{tag}-{uuid.uuid4().hex}")
            values.setdefault("jwt_issuer", "kauppa-tests")
        return cls(**values)

    return make


@pytest_asyncio.fixture
async def runtimes() -> AsyncIterator[list[ServiceRuntime]]:
    """Append runtimes you start; they are stopped after the test."""
    started: list[ServiceRuntime] = []
    yield started
    for rt in reversed(started):
        if rt.started:
            await rt.stop()
