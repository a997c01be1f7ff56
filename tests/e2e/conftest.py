"""The whole system for end-to-end tests: every service as its own process (spawned the way
`kauppa run` spawns them, on free ports), a real SMTP server (aiosmtpd) and an accelerated
business clock, on the session's real broker and mongod. Every process started here is
stopped in the teardown, also when a test fails."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from kauppa.cli.system import (
    SERVICES,
    NotReady,
    ServiceSpec,
    on_free_ports,
    spawn_service,
    wait_ready,
    write_run_state,
)
from kauppa.devkit.embedded import Infrastructure
from kauppa.devkit.embedded.servers import free_port
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.clock import Clock, clock_from_settings
from kauppa.servicekit.settings import ClockSettings, ServiceSettings

# The business clock: a Monday morning in a week with no Finnish public holidays nearby,
# running SPEED times faster than real time, so the next business morning (confirmation)
# and three business days after delivery (feedback call) come within seconds.
SPEED = 20_000.0
CLOCK_START = "2027-02-01T07:00:00Z"
CORE = ("handoff", "closing", "confirmation", "followup", "webhooks")


@dataclass
class ReceivedMail:
    to: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""


@dataclass
class SmtpServer:
    port: int
    mails: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.mails.append(ReceivedMail(list(envelope.rcpt_tos), msg))
        return "250 OK"

    @property
    def ui(self) -> str:
        """What the state file names as the mail sink (`kauppa demo` prints it). This sink
        has no browser view, so: its SMTP address."""
        return f"smtp://127.0.0.1:{self.port}"

    def received(self, predicate: Any) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.mails if predicate(m)]


@dataclass
class KauppaSystem:
    specs: list[ServiceSpec]
    env: dict[str, str]
    state_file: Path
    log_dir: Path
    smtp: SmtpServer
    bootstrap: str
    clock: Clock
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return next(s.url for s in self.specs if s.name == name)

    def token(self, subject: str, role: str) -> str:
        return issue_token(ServiceSettings(), subject, [role])

    def logs(self, lines: int = 40) -> str:
        out = []
        for spec in self.specs:
            path = self.log_dir / f"{spec.name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {spec.name} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"service process(es) exited: {dead}\n{self.logs()}")


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def kauppa_system(
    infra: Infrastructure, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KauppaSystem]:
    run_dir = tmp_path_factory.mktemp("kauppa-e2e")
    tag = uuid.uuid4().hex[:6]
    specs = on_free_ports([s for s in SERVICES if s.name in CORE])
    epoch = time.time()
    env: dict[str, str] = {
        **infra.env(),
        "KAUPPA_CLOCK_SPEED": str(SPEED),
        "KAUPPA_CLOCK_START": CLOCK_START,
        "KAUPPA_CLOCK_EPOCH": str(epoch),
        "CONFIRMATION_SMTP_HOST": "127.0.0.1",
        "CONFIRMATION_SMTP_PORT": str(smtp_server.port),
        "FOLLOWUP_SMTP_PORT": str(smtp_server.port),  # the sellers' daily digests
        # The handoff SLA (business hours) would reassign leads within a second at this
        # speed; the reassignment itself is tested in the handoff service.
        "HANDOFF_REMINDER_AFTER_HOURS": "2000",
        "HANDOFF_REASSIGN_AFTER_HOURS": "4000",
        "FOLLOWUP_AUDIT_INTERVAL_MINUTES": "1000000",
    }
    for spec in specs:
        prefix = spec.name.upper()
        env[f"{prefix}_DATABASE"] = f"e2e_{tag}_{spec.name}"
        env[f"{prefix}_CONSUMER_GROUP"] = f"e2e-{tag}-{spec.name}"
    system = KauppaSystem(
        specs=specs,
        env=env,
        state_file=run_dir / "state.json",
        log_dir=run_dir / "logs",
        smtp=smtp_server,
        bootstrap=infra.kafka_bootstrap_servers,
        clock=clock_from_settings(ClockSettings(speed=SPEED, start=CLOCK_START, epoch=epoch)),
    )
    # What `kauppa run` writes for `kauppa demo` and friends.
    write_run_state(system.state_file, infra, env, specs, smtp_server.port, smtp_server.ui)
    try:
        for spec in specs:
            system.processes[spec.name] = spawn_service(spec, env, system.log_dir)
        _wait_ready(system)
        yield system
    finally:
        _stop(system.processes)


def _wait_ready(system: KauppaSystem) -> None:
    try:
        wait_ready(system.specs, system.processes, interval=0.2)
    except NotReady as exc:
        raise AssertionError(f"{exc}\n{system.logs()}") from exc
