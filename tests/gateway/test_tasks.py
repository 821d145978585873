"""gateway.tasks.stop_task: a stop always ends, even when a cancel is swallowed."""
from __future__ import annotations

import asyncio
import logging

from gateway.tasks import stop_task


async def test_a_task_that_swallows_a_cancel_is_cancelled_again_and_stops():
    """What Python 3.11's wait_for does when its inner call finishes as the cancel arrives:
    the CancelledError never reaches the loop, which runs on. stop_task still ends it."""
    rounds = []

    async def loop_that_loses_one_cancel() -> None:
        swallowed = False
        while True:
            rounds.append(1)
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True  # the lost cancel

    task = asyncio.create_task(loop_that_loses_one_cancel())
    await asyncio.sleep(0.03)
    await asyncio.wait_for(stop_task(task, recancel_seconds=0.05), 5)
    assert task.cancelled()
    assert len(rounds) >= 2


async def test_an_error_the_task_ended_with_is_logged_not_raised(caplog):
    async def fails() -> None:
        raise ValueError("broken probe")

    task = asyncio.create_task(fails(), name="probe")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="gateway.tasks"):
        await stop_task(task)
    assert "probe ended with an error: broken probe" in caplog.text


async def test_none_and_finished_tasks_are_fine():
    await stop_task(None)
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await stop_task(task)
    assert task.done() and not task.cancelled()
