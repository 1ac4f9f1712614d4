"""`invoke trace`, black-box: a real write, followed to a connected client, is traced end to end from the stack's
logs, by its purchase id and by its request's correlation id; an id no write has is one line and exit code 1."""

from __future__ import annotations

import time
import uuid
from typing import Any

from devkit.core.http import call
from devkit.engines import Engine
from devkit.stack.auth import authorization_header
from devkit.stack.logs import stack_log_groups
from devkit.stack.notifications import Listener, of_purchase, socket_url
from devkit.stack.trace import Journey, UnknownTrace, trace

from .support import eventually, make_purchase, run_task

# Logs reach CloudWatch Logs a few seconds after the line is written on AWS.
TRACE_DEADLINE = 60.0
WRITE_STEPS = ["API request", "sender", "queue wait", "writer", "table change", "stream", "notifier"]


def _complete_journey(
    engine: Engine, outputs: dict[str, Any], trace_id: str, since_ms: int
) -> Journey | None:
    try:
        journeys = trace(engine, stack_log_groups(engine, outputs["StackName"]), trace_id, start_ms=since_ms)
    except UnknownTrace:
        return None  # not in the logs yet
    [journey] = journeys
    names = [step.name for step in journey.steps]
    return journey if names[: len(WRITE_STEPS)] == WRITE_STEPS and "push" in names else None


def test_a_write_is_traced_from_the_api_to_each_websocket_push(
    outputs: dict[str, Any], engine: Engine
) -> None:
    since_ms = int((time.time() - 60) * 1000)
    # Given a client connected to the notifications
    with Listener(socket_url(engine, outputs)) as listener:
        # When a purchase is created and its notification reaches the client
        reply = call(
            "POST",
            str(outputs["ProductPurchaseApi"]).rstrip("/"),
            make_purchase(),
            headers=authorization_header(engine, outputs),
        )
        assert reply.status == 202, reply.body[:300]
        purchase_id = str(reply.json()["ProductPurchaseId"])
        listener.wait_for(lambda got: bool(of_purchase(got, purchase_id)), timeout=TRACE_DEADLINE)

    # Then tracing its purchase id gives its whole journey, in the write's order
    journey = eventually(
        lambda: _complete_journey(engine, outputs, purchase_id, since_ms),
        f"the journey of {purchase_id} in the logs",
        timeout=TRACE_DEADLINE,
    )
    assert journey.purchase_id == purchase_id and journey.action == "create"
    assert all(step.duration_ms >= 0 for step in journey.steps)
    pushes = [step for step in journey.steps if step.name == "push"]
    assert any(step.detail.endswith(": delivered") for step in pushes)
    # And no step starts before the request reached the API
    received = journey.steps[0].start_ms
    assert all(received <= step.start_ms <= step.end_ms for step in journey.steps)

    # And its request's correlation id gives the same journey
    [by_request] = trace(
        engine, stack_log_groups(engine, outputs["StackName"]), journey.correlation_id, start_ms=since_ms
    )
    assert by_request.to_json() == journey.to_json()


def test_tracing_an_id_no_write_has_is_one_line_and_exit_code_1(outputs: dict[str, Any]) -> None:
    unknown = str(uuid.uuid4())
    result = run_task(outputs, "trace", unknown)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and unknown in lines[0], result.stderr
