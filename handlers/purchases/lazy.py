"""A value built on first use: AWS clients are made once per execution environment, at the first
request that needs them, and unit tests can put fakes in their place before that."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def override(self, value: T | None) -> None:
        """Use `value` from now on (None: build again on next use). For tests."""
        self._value = value


def build_during_init(*factories: Callable[[], Any]) -> None:
    """Build AWS clients in the Lambda init phase instead of the first request.

    Init does not count against the function timeout (on Lambda or MiniStack): on a busy machine, first
    requests that built their clients timed out and the engine restarted those workers cold, again and again.
    Only inside a Lambda runtime, so unit tests can put fakes in place first.
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        for factory in factories:
            factory()
