"""A value built on first use: AWS clients are made once per execution environment, at the first
request that needs them, and unit tests can put fakes in their place before that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

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
