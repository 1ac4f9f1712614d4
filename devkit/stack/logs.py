"""Reading the stack's functions' log events from CloudWatch Logs, where every engine puts them: one function's or
every function's, merged in time order, once or following new ones (`invoke logs`, `invoke trace`).

Every read goes through `read_events` (FilterLogEvents, paginated by boto3's paginator), whatever the engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.stacks import stack_function_names

_SINCE: Final = re.compile(r"(\d+)\s*([smhd])")
_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_INTERVAL: Final = 1.0
_DENIED: Final = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})


@dataclass(frozen=True, slots=True)
class LogEvent:
    source: str  # the function's short name: sender, writer, ...
    timestamp: int  # ms since the epoch, as CloudWatch Logs stamped the event
    message: str
    stream: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        # MiniStack's events carry no eventId: an event is its group, stream, time and text.
        return (self.source, self.stream, self.timestamp, self.message)


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def stack_log_groups(engine: Engine, stack: str) -> dict[str, str]:
    """Short function name (sender, writer, ...) -> its log group, for every function of `stack`."""
    return {short: log_group(name) for short, name in stack_function_names(engine, stack).items()}


def since_seconds(text: str) -> int:
    """`30s`, `10m`, `2h`, `1d` as seconds; a ToolingError for anything else."""
    match = _SINCE.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ToolingError(f"--since takes a duration such as 30s, 10m, 2h or 1d, not {text!r}.")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def text_pattern(text: str) -> str:
    """The CloudWatch Logs filter pattern that narrows a read to events containing `text` (a quoted phrase); ""
    when it cannot be quoted, in which case `contains` alone decides."""
    return "" if not text or '"' in text or "\\" in text else f'"{text}"'


def contains(text: str) -> Callable[[LogEvent], bool]:
    """The exact check behind `--filter TEXT`: the event's text contains `text`, case-sensitive, on every engine
    (MiniStack matches filter patterns case-insensitively, AWS does not)."""
    return lambda event: text in event.message


def _filter_pages(logs: Any, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        yield from logs.get_paginator("filter_log_events").paginate(**arguments)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return  # a function that never ran has no log group yet (MiniStack creates it on the first line)
        if code in _DENIED:
            raise ToolingError(
                f"No permission to read {arguments['logGroupName']} (logs:FilterLogEvents): use credentials "
                "allowed to read the stack's log groups."
            ) from None
        raise


def read_events(
    engine: Engine,
    groups: Mapping[str, str],
    *,
    start_ms: int,
    end_ms: int | None = None,
    pattern: str = "",
    streams: list[str] | None = None,
) -> list[LogEvent]:
    """Every event of `groups` (source -> log group) from `start_ms` (to `end_ms`), matching the CloudWatch Logs
    filter `pattern` and, when given, only in `streams`: merged in time order (stable: one invocation's lines keep
    their order)."""
    logs = engine.client("logs")
    events: list[LogEvent] = []
    for source, group in groups.items():
        arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if end_ms is not None:
            arguments["endTime"] = end_ms
        if pattern:
            arguments["filterPattern"] = pattern
        if streams:
            arguments["logStreamNames"] = streams
        for page in _filter_pages(logs, arguments):
            events.extend(
                LogEvent(
                    source,
                    int(item["timestamp"]),
                    str(item["message"]).rstrip("\n"),
                    item.get("logStreamName", ""),
                )
                for item in page.get("events", [])
            )
    events.sort(key=lambda event: event.timestamp)
    return events


def stack_events(
    engine: Engine,
    groups: Mapping[str, str],
    *,
    since_s: int,
    text: str = "",
    follow: bool = False,
    interval: float = FOLLOW_INTERVAL,
    now: Callable[[], float] = time.time,
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[LogEvent]:
    """The events of `groups` of the last `since_s` seconds containing `text`, in time order; with `follow`, then
    every new one as it arrives (polled every `interval` s), until the caller stops iterating."""
    start = int((now() - since_s) * 1000)
    pattern, wanted = text_pattern(text), contains(text)
    seen: set[tuple[str, str, int, str]] = set()
    while True:
        fresh = [
            event
            for event in read_events(engine, groups, start_ms=start, pattern=pattern)
            if event.key not in seen and wanted(event)
        ]
        yield from fresh
        if not follow:
            return
        if fresh:
            # The next read starts at the newest time seen (a later event may share it), so only the events of
            # that millisecond need remembering.
            start = max(start, fresh[-1].timestamp)
        seen = {key for key in seen | {event.key for event in fresh} if key[2] >= start}
        pause(interval)
