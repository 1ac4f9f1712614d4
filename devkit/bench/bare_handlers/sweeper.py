"""Bare sweeper for the benchmark's baseline: the schedule runs it every minute; no client connects during a
benchmark, so the real sweeper would find no connection either."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    print("swept")
