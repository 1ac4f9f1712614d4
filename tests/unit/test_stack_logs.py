"""Reading the stack's log events (devkit.stack.logs) on moto's CloudWatch Logs: every function's lines merged in
time order, the --filter text, --since, following new lines, and a function that has not logged yet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devkit.core.project import ToolingError
from devkit.stack.logs import read_events, since_seconds, stack_events

NOW = time.time()  # moto refuses events far in the past or the future
GROUPS = {"sender": "/aws/lambda/stack-Sender", "writer": "/aws/lambda/stack-Writer"}


class LogsEngine:
    """Just what the log readers use of an engine, on moto."""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture
def engine(mocked_aws: None) -> Iterator[LogsEngine]:
    logs = boto3.client("logs", region_name="us-east-1")
    for group in GROUPS.values():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    yield LogsEngine()
    for group in GROUPS.values():
        logs.delete_log_group(logGroupName=group)


def put(source: str, *lines: tuple[float, str]) -> None:
    boto3.client("logs", region_name="us-east-1").put_log_events(
        logGroupName=GROUPS[source],
        logStreamName="s",
        logEvents=[{"timestamp": int(at * 1000), "message": text} for at, text in lines],
    )


def test_every_functions_lines_come_merged_in_time_order_each_with_its_function(engine: LogsEngine) -> None:
    # Given two functions that logged in turns
    put("sender", (NOW - 5, "accepted 1"), (NOW - 3, "accepted 2"))
    put("writer", (NOW - 4, "applied 1"), (NOW - 2, "applied 2"))
    # When the stack's events are read
    events = read_events(engine, GROUPS, start_ms=int((NOW - 60) * 1000))  # type: ignore[arg-type]
    # Then they come in time order, each named by its function
    assert [(event.source, event.message) for event in events] == [
        ("sender", "accepted 1"),
        ("writer", "applied 1"),
        ("sender", "accepted 2"),
        ("writer", "applied 2"),
    ]


def test_filter_keeps_the_lines_containing_the_text_and_since_the_recent_ones(engine: LogsEngine) -> None:
    # Given lines old and new, some with the text in another case
    put("sender", (NOW - 3600, "ERROR long ago"), (NOW - 30, "ERROR recent"), (NOW - 20, "error lower case"))
    put("writer", (NOW - 10, "fine"))
    # When the last 10 minutes are read for "ERROR"
    events = stack_events(engine, GROUPS, since_s=600, text="ERROR", now=lambda: NOW)  # type: ignore[arg-type]
    # Then only the recent line with that exact text comes
    assert [event.message for event in events] == ["ERROR recent"]


class StopFollowing(Exception):
    pass


def test_following_prints_each_new_line_once(engine: LogsEngine) -> None:
    # Given a line logged before following starts, one logged while following, then nothing new
    put("sender", (NOW - 5, "before"))
    arrivals = iter([[("writer", (NOW - 1, "during"))], []])

    def pause(_seconds: float) -> None:
        batch = next(arrivals, None)
        if batch is None:
            raise StopFollowing
        for source, line in batch:
            put(source, line)

    # When the stack's lines are followed until the third pause
    followed = stack_events(engine, GROUPS, since_s=60, follow=True, now=lambda: NOW, pause=pause)  # type: ignore[arg-type]
    seen: list[str] = []
    with pytest.raises(StopFollowing):
        seen.extend(event.message for event in followed)
    # Then the old line and the new one came, once each
    assert seen == ["before", "during"]


def test_a_function_without_a_log_group_yet_has_no_lines(engine: LogsEngine) -> None:
    put("sender", (NOW - 5, "only line"))
    groups = {**GROUPS, "notifier": "/aws/lambda/stack-Notifier"}
    events = read_events(engine, groups, start_ms=0)  # type: ignore[arg-type]
    assert [event.source for event in events] == ["sender"]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400)])
def test_since_reads_a_duration(text: str, seconds: int) -> None:
    assert since_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "5x", "0m", "-1h", "ten minutes"])
def test_since_refuses_anything_else_in_one_line(text: str) -> None:
    with pytest.raises(ToolingError, match="--since takes a duration"):
        since_seconds(text)


def test_no_permission_to_read_the_logs_is_one_clear_line() -> None:
    from botocore.stub import Stubber

    # Given credentials that may not read the stack's log groups
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(logs)
    stubber.add_client_error("filter_log_events", "AccessDeniedException", "not authorized")

    class DeniedEngine:
        def client(self, service: str) -> Any:
            return logs

    # When they are read, Then the error names the group and the permission
    with (
        stubber,
        pytest.raises(
            ToolingError, match=r"No permission to read /aws/lambda/stack-Sender \(logs:FilterLogEvents\)"
        ),
    ):
        read_events(DeniedEngine(), {"sender": GROUPS["sender"]}, start_ms=0)  # type: ignore[arg-type]
