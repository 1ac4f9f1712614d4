"""`invoke logs` for the whole stack, black-box through the command: a real write's lines from the sender, the
writer and the notifier come in time order, each named by its function, and `--filter` keeps only the lines with
its text."""

from __future__ import annotations

import json
from typing import Any

from devkit.core.http import call
from devkit.engines import Engine
from devkit.stack.auth import authorization_header

from .support import eventually, make_purchase, run_task

# Logs reach CloudWatch Logs a few seconds after the line is written on AWS.
LOGS_DEADLINE = 60.0


def _logs(outputs: dict[str, Any], *options: str) -> list[dict[str, Any]]:
    result = run_task(outputs, "logs", *options)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_a_writes_lines_from_every_function_come_merged_in_time_order(
    outputs: dict[str, Any], engine: Engine
) -> None:
    # Given a purchase written through the API
    reply = call(
        "POST",
        str(outputs["ProductPurchaseApi"]).rstrip("/"),
        make_purchase(),
        headers=authorization_header(engine, outputs),
    )
    assert reply.status == 202, reply.body[:300]
    purchase_id = str(reply.json()["ProductPurchaseId"])

    # When the stack's logs are read for its id
    def lines_of_every_function() -> list[dict[str, Any]] | None:
        lines = _logs(outputs, "--since", "5m", "--filter", purchase_id, "--json")
        return lines if {"sender", "writer", "notifier"} <= {line["function"] for line in lines} else None

    lines = eventually(
        lines_of_every_function, f"the lines of {purchase_id} from every function", LOGS_DEADLINE
    )
    # Then every line has the id, and they come in time order (the interleaving itself: unit test_stack_logs)
    assert all(purchase_id in line["message"] for line in lines)
    assert [line["timestamp"] for line in lines] == sorted(line["timestamp"] for line in lines)
