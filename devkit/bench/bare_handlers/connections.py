"""Bare $connect/$disconnect for the benchmark's baseline (nothing connects during a benchmark)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200}
