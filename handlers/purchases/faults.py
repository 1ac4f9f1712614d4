"""Deliberate writer failures, for the soak test that proves no write is lost or applied twice.

Off unless WRITER_FAULT_RATE / WRITER_CRASH_RATE are set (never in prod: see `config`). Whether a
record fails is decided by a random draw only, never by the record, so every message eventually
gets through on a redelivery.

The one exception is the slow record (WRITER_SLOW_MARKER, also test-only and refused in prod): a
message whose correlation id is the marker stalls as long as the writer's table write may take and then
fails, on its first delivery only, like a call that hangs until its read timeout. API clients cannot
choose a correlation id (it is the API request id), only whoever may put messages on the queue.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from typing import Final, NoReturn

CRASH_EXIT_CODE: Final = 75


class InjectedFault(RuntimeError):
    """A record failed on purpose (WRITER_FAULT_RATE, WRITER_SLOW_MARKER)."""


class FaultInjector:
    def __init__(
        self,
        fault_rate: float,
        crash_rate: float,
        rng: random.Random | None = None,
        exit_process: Callable[[int], NoReturn] = os._exit,
        slow_marker: str = "",
        stall_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.fault_rate = fault_rate
        self.crash_rate = crash_rate
        self.slow_marker = slow_marker
        self._stall_seconds = stall_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._exit_process = exit_process
        self._crash_after: int | None = None
        self._handled = 0

    def begin_batch(self, size: int) -> None:
        """Decide whether this batch ends in a crash, and after how many of its records."""
        self._handled = 0
        self._crash_after = None
        if size > 0 and self.crash_rate > 0 and self._rng.random() < self.crash_rate:
            self._crash_after = self._rng.randint(1, size)

    def before_record(self) -> None:
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            raise InjectedFault("record failed on purpose (WRITER_FAULT_RATE)")

    def stall_if_slow(self, correlation_id: str, receive_count: int) -> None:
        """Stall, then fail, when the message is the test's slow record on its first delivery."""
        if self.slow_marker and correlation_id == self.slow_marker and receive_count <= 1:
            self._sleep(self._stall_seconds)
            raise InjectedFault("record was slow on purpose (WRITER_SLOW_MARKER)")

    def after_record(self) -> None:
        self._handled += 1
        if self._crash_after is not None and self._handled >= self._crash_after:
            # Records already applied stay applied and are delivered again: the crash a real
            # environment can suffer between the table write and the queue acknowledgement.
            sys.stdout.flush()
            sys.stderr.flush()
            self._exit_process(CRASH_EXIT_CODE)
