"""[gateway] event_loop: uvloop when installed ("auto"), asyncio's own when asked."""
from __future__ import annotations

import asyncio

import pytest

from gateway.event_loop import loop_factory, run


async def _loop_type() -> int:
    return 1 if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else 0


@pytest.mark.parametrize("choice, uvloop_used", [("auto", 1), ("uvloop", 1), ("asyncio", 0)])
def test_choice_decides_the_loop(choice: str, uvloop_used: int) -> None:
    assert run(_loop_type(), choice) == uvloop_used


def test_asyncio_needs_no_factory() -> None:
    assert loop_factory("asyncio") is None


def test_config_key_is_validated() -> None:
    from config.loader import ConfigError
    from tests.factories import make_settings
    assert make_settings(gateway={"event_loop": "asyncio"}).gateway.event_loop == "asyncio"
    with pytest.raises(ConfigError):
        make_settings(gateway={"event_loop": "twisted"})
