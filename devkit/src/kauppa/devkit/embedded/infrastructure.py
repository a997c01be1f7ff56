"""Find or start a Kafka-protocol broker and a MongoDB replica set, by the precedence rule."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kauppa.devkit.embedded.servers import (
    InfrastructureError,
    ServerProcess,
    start_mongod,
    start_tansu,
)
from kauppa.servicekit.kafka_admin import create_topics


@dataclass
class Infrastructure:
    kafka_bootstrap_servers: str
    mongodb_uri: str
    origin: str  # "explicit", "docker" or "embedded"
    processes: list[ServerProcess] = field(default_factory=list)
    _containers: list[Any] = field(default_factory=list, repr=False)

    @property
    def profile(self) -> str:
        """Tansu needs the local Kafka profile; real Kafka gets production settings."""
        return "local" if self.origin == "embedded" else "production"

    def env(self) -> dict[str, str]:
        """The environment a Kauppa process needs to use this infrastructure."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "MONGODB_URI": self.mongodb_uri,
            "KAUPPA_PROFILE": os.environ.get("KAUPPA_PROFILE", self.profile),
        }

    def process(self, name: str) -> ServerProcess:
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise KeyError(name)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        for container in reversed(self._containers):
            with suppress(Exception):
                container.stop()
        self.processes.clear()
        self._containers.clear()

    def describe(self) -> str:
        return (
            f"Kafka:   {self.kafka_bootstrap_servers}  ({self.origin})\n"
            f"MongoDB: {self.mongodb_uri}  ({self.origin})"
        )


def docker_available() -> bool:
    if os.environ.get("KAUPPA_NO_DOCKER"):
        return False
    if not (shutil.which("docker") or os.path.exists("/var/run/docker.sock")):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _start_containers() -> Infrastructure:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft()
    kafka.start()
    mongo = MongoDbContainer("mongo:7.0").with_command("--replSet rs0 --bind_ip_all")
    mongo.start()
    host, port = mongo.get_container_host_ip(), mongo.get_exposed_port(27017)
    mongo.exec(
        "mongosh --quiet --eval "
        f"\"rs.initiate({{_id:'rs0',members:[{{_id:0,host:'{host}:{port}'}}]}})\""
    )
    return Infrastructure(
        kafka_bootstrap_servers=kafka.get_bootstrap_server(),
        mongodb_uri=f"mongodb://{host}:{port}/?replicaSet=rs0&directConnection=true",
        origin="docker",
        _containers=[kafka, mongo],
    )


def start_embedded(data_dir: Path) -> Infrastructure:
    data_dir.mkdir(parents=True, exist_ok=True)
    tansu = start_tansu(data_dir)
    try:
        mongod = start_mongod(data_dir)
    except Exception:
        tansu.stop()
        raise
    return Infrastructure(
        kafka_bootstrap_servers=f"127.0.0.1:{tansu.port}",
        mongodb_uri=f"mongodb://127.0.0.1:{mongod.port}/?replicaSet=rs0",
        origin="embedded",
        processes=[tansu, mongod],
    )


def resolve(data_dir: Path) -> Infrastructure:
    """Explicit settings > Docker (testcontainers) > embedded."""
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    if kafka and mongo:
        return Infrastructure(kafka, mongo, origin="explicit")
    if kafka or mongo:
        raise InfrastructureError(
            "set both KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI to use an existing cluster, "
            "or neither to start one"
        )
    if docker_available():
        return _start_containers()
    return start_embedded(data_dir)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


@contextmanager
def provide_infrastructure(data_dir: Path, *, topics: bool = True) -> Iterator[Infrastructure]:
    """Infrastructure for the duration of the block; what was started here is stopped,
    also when the process is told to stop (SIGTERM becomes a normal exit, so the
    servers, which run in sessions of their own, are not left behind)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    infra = resolve(data_dir)
    try:
        if topics:
            asyncio.run(create_topics(infra.kafka_bootstrap_servers))
        yield infra
    finally:
        infra.stop()


def write_state(path: Path, infra: Infrastructure, **more: Any) -> None:
    """The infrastructure for ``read_state``, and ``more`` beside it (e.g. ``kauppa run``'s
    services)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "origin": infra.origin,
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "mongodb_uri": infra.mongodb_uri,
        "processes": [
            {"name": p.name, "pid": p.pid, "port": p.port, "log": str(p.log)}
            for p in infra.processes
        ],
        **more,
    }
    path.write_text(json.dumps(state, indent=2))


def read_state(path: Path) -> Infrastructure | None:
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    procs = [
        ServerProcess(p["name"], p["pid"], p["port"], Path(p["log"])) for p in state["processes"]
    ]
    return Infrastructure(
        state["kafka_bootstrap_servers"], state["mongodb_uri"], state["origin"], procs
    )
