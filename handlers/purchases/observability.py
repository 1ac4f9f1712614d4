"""Powertools Logger, Tracer and Metrics as the three functions use them.

Tracing off (POWERTOOLS_TRACE_DISABLED=true, as on emulators without an X-Ray daemon, or outside
Lambda) must cost nothing: Powertools' Tracer builds the X-Ray recorder, which creates two boto3
clients, even when disabled (~150 ms of cold start). A disabled Tracer gets a recorder that does
nothing instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

PURCHASE_ACCEPTED: Final = "PurchaseAccepted"
PURCHASE_REJECTED: Final = "PurchaseRejected"
PURCHASE_WRITTEN: Final = "PurchaseWritten"
PURCHASE_WRITE_SUPERSEDED: Final = "PurchaseWriteSuperseded"
PURCHASE_WRITE_FAILED: Final = "PurchaseWriteFailed"
# A queued body whose MAC is missing or wrong (`purchases.signing`): forged or altered, never applied. The template's
# UnverifiedWriteAlarm watches it.
PURCHASE_WRITE_UNVERIFIED: Final = "PurchaseWriteUnverified"


def tracing_disabled(environ: Any = os.environ) -> bool:
    """Powertools' own rule: disabled explicitly, or not running in (real) Lambda."""
    if resolve_truthy_env_var_choice(env=environ.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return True
    return not environ.get("LAMBDA_TASK_ROOT") or bool(environ.get("AWS_SAM_LOCAL"))


def build_tracer() -> Tracer:
    if tracing_disabled():
        return Tracer(disabled=True, provider=_SilentProvider())
    return Tracer()


def build_logger() -> Logger:
    return Logger()


def build_metrics() -> Metrics:
    return Metrics()


def count(metrics: Metrics, name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


class _SilentSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class _SilentProvider(BaseProvider):
    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _SilentSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _SilentSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass
