"""Tracing off must cost nothing, and each function imports only what it uses (cold starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from purchases.observability import tracing_disabled

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


@pytest.mark.parametrize(
    ("environ", "disabled"),
    [
        ({"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"POWERTOOLS_TRACE_DISABLED": "1", "LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, True),
        ({}, True),
    ],
)
def test_tracing_is_disabled_when_powertools_would_disable_it(
    environ: dict[str, str], disabled: bool
) -> None:
    assert tracing_disabled(environ) is disabled


def modules_loaded_by_importing(handler: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `handler`, as on a cold start."""
    environ = {
        **os.environ,
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "TABLE_NAME": "t",
        "STAGE": "dev",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(HANDLERS),
    }
    script = f"import sys, json; import {handler}; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(completed.stdout.splitlines()[-1]))


@pytest.mark.parametrize("handler", ["sender", "reader", "writer"])
def test_disabled_tracing_never_loads_the_xray_recorder(handler: str) -> None:
    # Given tracing disabled, as on the local emulator
    # When the function is imported, then the X-Ray recorder (and its clients) was never built
    assert "aws_xray_sdk.core" not in modules_loaded_by_importing(handler)


def test_reader_does_not_load_the_purchase_validator() -> None:
    # The reader validates nothing: compiling the schema would only slow its cold start
    assert "fastjsonschema" not in modules_loaded_by_importing("reader")
