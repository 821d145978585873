"""Stopping the gateway's background tasks so that a stop always ends.

Python 3.11's asyncio.wait_for can swallow a cancel that arrives as the call it wraps finishes
(cpython gh-86296): a loop task such as the health probe then runs on, and `task.cancel();
await task` waits for ever (a CI run spent 900 s in a test's teardown doing exactly that).
stop_task cancels again until the task has ended.
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task | None, *, recancel_seconds: float = 0.5) -> None:
    """Cancel `task` and wait until it has ended, cancelling again every `recancel_seconds`
    while it still runs. An error the task ended with is logged, not raised: it is stopping."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=recancel_seconds)
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task %s ended with an error: %s", task.get_name(), task.exception())
