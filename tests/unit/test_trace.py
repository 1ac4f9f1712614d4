"""A write's journey (devkit.stack.trace) from the functions' log lines: the steps in order with their times and
durations, the lines read from Lambda's reports, which writes an id names, and an id no write has."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devkit.stack.logs import LogEvent
from devkit.stack.trace import (
    Invocation,
    Record,
    UnknownTrace,
    invocation_of,
    journeys,
    powertools_time,
    record_of,
)
from devkit.stack.trace import trace as trace_stack

PURCHASE = "0b6c8f9e-1111-4a4a-8b8b-000000000001"
REQUEST = "req-create"
T0 = 1_790_000_000_000.0  # ms


def line(source: str, at: float, message: str, request_id: str, **fields: Any) -> Record:
    return Record(source, T0 + at, {"message": message, "function_request_id": request_id, **fields})


def create_journey_records(stamp: int = 42, request: str = REQUEST) -> list[Record]:
    """What one create leaves in the logs, times in ms after T0."""
    return [
        line(
            "sender",
            20,
            "Purchase write accepted",
            f"s-{request}",
            correlation_id=request,
            purchase_id=PURCHASE,
            action="create",
            message_id="m-1",
            request_time_epoch=T0,
        ),
        line(
            "writer",
            60,
            "Write message applied",
            f"w-{request}",
            correlation_id=request,
            purchase_id=PURCHASE,
            action="create",
            stamp=stamp,
        ),
        line(
            "notifier",
            90,
            "Change to notify",
            f"n-{request}",
            purchase_id=PURCHASE,
            stamp=stamp,
            change="purchase.created",
        ),
        line(
            "notifier",
            100,
            "Change pushed",
            f"n-{request}",
            purchase_id=PURCHASE,
            connection_id="c1",
            outcome="delivered",
            push_ms=4.0,
        ),
        line(
            "notifier",
            103,
            "Change pushed",
            f"n-{request}",
            purchase_id=PURCHASE,
            connection_id="c2",
            outcome="gone",
            push_ms=2.0,
        ),
    ]


def create_invocations(request: str = REQUEST, later: float = 0) -> dict[str, Invocation]:
    return {
        f"s-{request}": Invocation(f"s-{request}", T0 + later + 30, 25),
        f"w-{request}": Invocation(f"w-{request}", T0 + later + 65, 20),
        f"n-{request}": Invocation(f"n-{request}", T0 + later + 110, 30),
    }


def test_a_write_is_traced_step_by_step_in_order_with_durations() -> None:
    # Given the lines one create leaves, When its purchase id is traced
    [journey] = journeys(PURCHASE, create_journey_records(), create_invocations())
    # Then every step comes in the write's order, each with its start and duration
    steps = [(step.name, step.start_ms - T0, step.duration_ms) for step in journey.steps]
    assert steps == [
        ("API request", 0, 30),  # received -> the sender's invocation ended
        ("sender", 5, 25),
        ("queue wait", 20, 25),  # queued -> the writer's invocation started
        ("writer", 45, 20),
        ("table change", 60, 0),
        ("stream", 60, 20),  # applied -> the notifier's invocation started
        ("notifier", 80, 30),
        ("push", 96, 4),
        ("push", 101, 2),
    ]
    assert (journey.correlation_id, journey.purchase_id, journey.action) == (REQUEST, PURCHASE, "create")
    assert [step.detail for step in journey.steps if step.name == "push"] == [
        "connection c1: delivered",
        "connection c2: gone",
    ]


def test_a_correlation_id_names_one_request_and_a_purchase_id_each_of_its_writes() -> None:
    # Given a create and then an update of the same purchase
    update = [
        Record(
            r.source, r.at_ms + 1000, {**r.fields, **({"action": "update"} if "action" in r.fields else {})}
        )
        for r in create_journey_records(stamp=43, request="req-update")
    ]
    records = [*create_journey_records(), *update]
    invocations = {**create_invocations(), **create_invocations("req-update", later=1000)}
    # When each is traced
    by_purchase = journeys(PURCHASE, records, invocations)
    by_request = journeys("req-update", records, invocations)
    # Then the purchase id gives both writes, oldest first, and the request id only its own
    assert [j.action for j in by_purchase] == ["create", "update"]
    assert [j.correlation_id for j in by_request] == ["req-update"]
    # And each write's notification is the one of its own stamp
    [notifier] = [step for step in by_request[0].steps if step.name == "notifier"]
    assert notifier.start_ms == T0 + 1000 + 80


def test_a_write_not_yet_notified_ends_at_the_table() -> None:
    records = [record for record in create_journey_records() if record.source != "notifier"]
    [journey] = journeys(REQUEST, records, create_invocations())
    assert [step.name for step in journey.steps][-1] == "table change"


def test_report_lines_are_read_in_lambdas_text_and_json_formats() -> None:
    text = LogEvent("writer", 1_000, "REPORT RequestId: abc\tDuration: 12.5 ms\tBilled Duration: 13 ms", "s")
    as_json = LogEvent(
        "writer",
        9,
        json.dumps(
            {
                "time": "2026-12-04T18:35:52.512Z",
                "type": "platform.report",
                "record": {"requestId": "def", "metrics": {"durationMs": 7.25}, "status": "success"},
            }
        ),
        "s",
    )
    assert invocation_of(text) == Invocation("abc", 1_000, 12.5)
    assert invocation_of(as_json) == Invocation(
        "def", powertools_time("2026-12-04 18:35:52,512+0000") or 0, 7.25
    )
    assert invocation_of(LogEvent("writer", 1, "START RequestId: abc Version: 1", "s")) is None


def test_a_powertools_line_is_timed_by_its_own_timestamp_not_the_events() -> None:
    # MiniStack stamps every event of an invocation with the invocation's end
    event = LogEvent("sender", 99_999, '{"message": "x", "timestamp": "2026-12-04 18:35:52,456+0000"}', "s")
    record = record_of(event)
    assert record is not None and record.at_ms == powertools_time("2026-12-04 18:35:52,456+0000")
    assert record_of(LogEvent("sender", 1, "plain text", "s")) is None


class LogsEngine:
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture
def stack_logs(mocked_aws: None) -> Iterator[dict[str, str]]:
    logs = boto3.client("logs", region_name="us-east-1")
    groups = {name: f"/aws/lambda/stack-{name}" for name in ("sender", "writer", "notifier")}
    for group in groups.values():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    yield groups
    for group in groups.values():
        logs.delete_log_group(logGroupName=group)


def test_an_id_no_write_has_is_one_clear_error(stack_logs: dict[str, str]) -> None:
    # Given a stack whose sender logged one write
    now = time.time()
    boto3.client("logs", region_name="us-east-1").put_log_events(
        logGroupName=stack_logs["sender"],
        logStreamName="s",
        logEvents=[
            {
                "timestamp": int(now * 1000),
                "message": json.dumps(
                    {"message": "Purchase write accepted", "purchase_id": PURCHASE, "correlation_id": REQUEST}
                ),
            }
        ],
    )
    engine: Any = LogsEngine()
    start = int((now - 60) * 1000)
    # When another id is traced, Then one line says no write has it
    with pytest.raises(UnknownTrace, match="No write with purchase id or correlation id 0b6c8f9e-9999"):
        trace_stack(engine, stack_logs, "0b6c8f9e-9999-4a4a-8b8b-000000000001", start_ms=start)
    # And the write's own id is found
    [journey] = trace_stack(engine, stack_logs, PURCHASE, start_ms=start)
    assert journey.correlation_id == REQUEST
