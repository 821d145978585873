"""Runs the gateway's coroutine on the configured event loop: uvloop when installed ([gateway] event_loop)."""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """None = asyncio's default loop. "uvloop" without uvloop installed is a config error
    the caller turns into one line; "auto" quietly falls back."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise RuntimeError("[gateway] event_loop = \"uvloop\" but uvloop is not installed "
                               "(pip install uvloop, or set \"auto\")") from None
        return None
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, int], choice: str = "auto") -> int:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(coro)
