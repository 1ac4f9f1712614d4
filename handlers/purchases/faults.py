"""Deliberate writer failures, for the soak test that proves no write is lost or applied twice.

Off unless WRITER_FAULT_RATE / WRITER_CRASH_RATE are set (never in prod: see `config`). Whether a
record fails is decided by a random draw only, never by the record, so every message eventually
gets through on a redelivery.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from typing import Final, NoReturn

CRASH_EXIT_CODE: Final = 75


class InjectedFault(RuntimeError):
    """A record failed on purpose (WRITER_FAULT_RATE)."""


class FaultInjector:
    def __init__(
        self,
        fault_rate: float,
        crash_rate: float,
        rng: random.Random | None = None,
        exit_process: Callable[[int], NoReturn] = os._exit,
    ) -> None:
        self.fault_rate = fault_rate
        self.crash_rate = crash_rate
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

    def after_record(self) -> None:
        self._handled += 1
        if self._crash_after is not None and self._handled >= self._crash_after:
            # Records already applied stay applied and are delivered again: the crash a real
            # environment can suffer between the table write and the queue acknowledgement.
            sys.stdout.flush()
            sys.stderr.flush()
            self._exit_process(CRASH_EXIT_CODE)
