"""Waiting in tests for something the system does in the background."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    probe: Callable[[], Awaitable[Any] | Any],
    ok: Callable[[Any], bool] = bool,
    *,
    timeout: float = 20.0,
    every: float = 0.05,
) -> Any:
    """Call ``probe`` (plain or async) until ``ok`` holds for what it returns (by default:
    until it returns something truthy) and return that. After ``timeout`` seconds the
    test fails, naming the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if ok(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not so after {timeout}s; last seen: {value!r}"[:2000])
        await asyncio.sleep(every)
