"""Bare notifier for the benchmark's baseline: takes each stream batch and pushes nothing (no client connects
during a benchmark, so the real notifier would find no connection either)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    print("changes", len(event.get("Records", [])))
