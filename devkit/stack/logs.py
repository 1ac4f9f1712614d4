"""Reading a function's log lines from CloudWatch Logs, where every engine puts them."""

from __future__ import annotations

import time
from collections.abc import Iterator

from botocore.exceptions import ClientError

from devkit.engines import Engine


def log_lines(engine: Engine, function_name: str, *, follow: bool) -> Iterator[str]:
    logs = engine.client("logs")
    group = f"/aws/lambda/{function_name}"
    start = int((time.time() - 3600) * 1000)  # the last hour, then whatever follows
    seen: set[tuple[str, int, str]] = set()
    while True:
        arguments = {"logGroupName": group, "startTime": start}
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**arguments):
                for event in page.get("events", []):
                    # Following re-reads from the newest timestamp; MiniStack's events carry no eventId.
                    key = (event.get("logStreamName", ""), event["timestamp"], event["message"])
                    if key in seen:
                        continue
                    seen.add(key)
                    start = max(start, event["timestamp"])
                    yield event["message"].rstrip("\n")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        if not follow:
            return
        time.sleep(1.0)
