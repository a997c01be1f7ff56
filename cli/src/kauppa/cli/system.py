"""What `kauppa run` starts: the services (each its own process) and where they listen."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from kauppa.devkit.embedded.infrastructure import Infrastructure, write_state
from kauppa.devkit.embedded.servers import free_port

ROOT = Path(__file__).resolve().parents[4]
RUN_DIR = ROOT / ".local" / "run"
PID_FILE = RUN_DIR / "kauppa.pid"
STATE_FILE = RUN_DIR / "state.json"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    module: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def available(self) -> bool:
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False


SERVICES = (
    ServiceSpec("handoff", 8101, "kauppa.handoff"),
    ServiceSpec("closing", 8102, "kauppa.closing"),
    ServiceSpec("confirmation", 8103, "kauppa.confirmation"),
    ServiceSpec("followup", 8104, "kauppa.followup"),
    ServiceSpec("webhooks", 8105, "kauppa.webhooks"),
    ServiceSpec("dashboard", 8100, "kauppa.dashboard"),
)
SMTP_PORT, MAIL_UI_PORT = 1025, 8025


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def on_free_ports(specs: tuple[ServiceSpec, ...] | list[ServiceSpec]) -> list[ServiceSpec]:
    """The same services on free ports, so a test system can run beside `kauppa run`."""
    return [ServiceSpec(s.name, free_port(), s.module) for s in specs]


def running_pid() -> int | None:
    """The PID of a `kauppa run` that is still alive, if any."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def spawn_service(spec: ServiceSpec, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{spec.name}.log").open("ab")
    prefix = spec.name.upper()
    child_env = {
        **os.environ,
        **env,
        f"{prefix}_HTTP_PORT": str(spec.port),
        f"{prefix}_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", spec.module],
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def write_run_state(
    path: Path,
    infra: Infrastructure,
    env: Mapping[str, str],
    services: Sequence[ServiceSpec],
    smtp_port: int,
    mail_ui: str,
) -> None:
    """The state file `kauppa run` leaves for `kauppa demo`, `kauppa emit` and `kauppa dlq`:
    the infrastructure (as the kit writes it), the profile, the business clock's settings,
    the services' URLs and where the mails go and can be read."""
    write_state(
        path,
        infra,
        profile=infra.profile,
        clock={k: v for k, v in env.items() if k.startswith("KAUPPA_CLOCK_")},
        services={s.name: s.url for s in services},
        smtp={"host": "127.0.0.1", "port": smtp_port, "ui": mail_ui},
    )


class NotReady(Exception):
    """A service exited (``exited``) or did not answer ready in time."""

    def __init__(self, name: str, exited: bool, message: str) -> None:
        super().__init__(message)
        self.name, self.exited = name, exited


def wait_ready(
    services: Sequence[ServiceSpec],
    processes: Mapping[str, subprocess.Popen[bytes]],
    *,
    timeout: float = 90,
    interval: float = 0.3,
    on_wait: Callable[[ServiceSpec], None] | None = None,
    on_ready: Callable[[ServiceSpec], None] | None = None,
) -> None:
    """Ask each service's /health/ready in turn until it answers 200, giving each
    ``timeout`` seconds. Raises NotReady when one of ``processes`` exits meanwhile or a
    service is not ready in time."""
    for spec in services:
        deadline = time.monotonic() + timeout
        while True:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    raise NotReady(name, True, f"{name} exited with {proc.returncode}")
            try:
                if httpx.get(f"{spec.url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise NotReady(spec.name, False, f"{spec.name} not ready after {timeout:g} s")
            if on_wait:
                on_wait(spec)
            time.sleep(interval)
        if on_ready:
            on_ready(spec)
