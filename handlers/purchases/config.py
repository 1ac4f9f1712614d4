"""Typed configuration read once from the function's environment.

Each handler reads only the variables it needs, so a missing variable fails that function's cold
start with a message naming it instead of failing later inside a request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

PRODUCTION_STAGE = "prod"


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration."""


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is missing or empty")
    return value


def _probability(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name, "").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number between 0 and 1") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"environment variable {name} must be a number between 0 and 1")
    return value


@dataclass(frozen=True, slots=True)
class SenderConfig:
    queue_url: str
    table_name: str
    idempotency_table_name: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SenderConfig:
        return cls(
            queue_url=_required(environ, "QUEUE_URL"),
            table_name=_required(environ, "TABLE_NAME"),
            idempotency_table_name=_required(environ, "IDEMPOTENCY_TABLE_NAME"),
        )


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    table_name: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ReaderConfig:
        return cls(table_name=_required(environ, "TABLE_NAME"))


@dataclass(frozen=True, slots=True)
class WriterConfig:
    table_name: str
    stage: str
    fault_rate: float
    crash_rate: float
    # Test only: the correlation id of write messages the writer treats as slow on their first delivery.
    slow_marker: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> WriterConfig:
        config = cls(
            table_name=_required(environ, "TABLE_NAME"),
            stage=_required(environ, "STAGE"),
            fault_rate=_probability(environ, "WRITER_FAULT_RATE"),
            crash_rate=_probability(environ, "WRITER_CRASH_RATE"),
            slow_marker=environ.get("WRITER_SLOW_MARKER", "").strip(),
        )
        # The template refuses these for prod too; checking again here means a hand-edited
        # function configuration cannot make production drop writes on purpose.
        if config.stage == PRODUCTION_STAGE and (config.fault_rate or config.crash_rate):
            raise ConfigurationError("WRITER_FAULT_RATE and WRITER_CRASH_RATE must be 0 when STAGE is prod")
        if config.stage == PRODUCTION_STAGE and config.slow_marker:
            raise ConfigurationError("WRITER_SLOW_MARKER must be empty when STAGE is prod")
        return config
