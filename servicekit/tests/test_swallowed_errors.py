"""Exceptions the runtime goes on after are logged with their type, never silent."""

from __future__ import annotations

import asyncio
import gc

import structlog
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings


async def test_a_crashed_background_task_and_an_unretrieved_exception_are_logged() -> None:
    rt = ServiceRuntime(ServiceSettings(service_name="swallow"), consume=False)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    async def boom() -> None:
        raise KeyError("lost")

    try:
        with structlog.testing.capture_logs() as logs:
            rt._spawn(boom(), "doomed")
            await asyncio.gather(*rt._tasks, return_exceptions=True)
            rt._install_exception_handler()
            orphan = loop.create_task(boom())  # nobody ever awaits it
            await asyncio.sleep(0.01)
            del orphan
            gc.collect()
        crashed = [e for e in logs if e["event"] == "background_task_crashed"]
        assert crashed and crashed[0]["error_type"] == "KeyError"
        assert crashed[0]["task"] == "doomed" and crashed[0]["log_level"] == "error"
        unhandled = [e for e in logs if e["event"] == "unhandled_exception"]
        assert unhandled and unhandled[0]["error_type"] == "KeyError"
    finally:
        loop.set_exception_handler(previous)
        await rt.client.close()
