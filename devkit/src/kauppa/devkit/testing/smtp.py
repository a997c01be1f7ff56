"""A real SMTP server for tests (aiosmtpd, a dev dependency), answering per recipient
from a script, keeping what it accepted."""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from kauppa.devkit.embedded.servers import free_port


@dataclass
class Received:
    message: EmailMessage
    recipients: list[str]
    at: float

    def header(self, name: str) -> str:
        return str(self.message[name] or "")

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())


@dataclass
class ScriptedSmtp:
    """``script[recipient]`` is a list of answers to DATA, used in order; then 250."""

    port: int = 0
    script: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpts = [str(r) for r in envelope.rcpt_tos]
        answers = self.script.get(rcpts[0]) if rcpts else None
        answer = answers.pop(0) if answers else "250 OK"
        if answer.startswith("250"):
            msg = email.message_from_bytes(envelope.original_content, policy=default_policy)
            self.accepted.append(Received(msg, rcpts, time.perf_counter()))
        else:
            self.refused.append((rcpts[0] if rcpts else "", answer))
        return answer

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.accepted if recipient in r.recipients]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > deadline:
                raise AssertionError(f"SMTP: timed out; accepted {len(self.accepted)}")
            await asyncio.sleep(0.02)


S = TypeVar("S", bound=ScriptedSmtp)


@contextmanager
def smtp_server(kind: type[S] = ScriptedSmtp) -> Iterator[S]:  # type: ignore[assignment]
    """A running server on a free port (``.port``), stopped on exit; ``kind`` is a
    ``ScriptedSmtp`` subclass where a service's tests want their own lookups."""
    handler = kind(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
