"""Polling with deadlines: the only way the tooling and the tests wait for anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    pass


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "the condition",
) -> T:
    """Call `probe` until it returns something other than None (or False) and return that, or raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"Gave up waiting for {what} after {timeout:.0f} s.")
        time.sleep(interval)
