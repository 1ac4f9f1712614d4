"""`invoke call`: one function's `live` alias invoked with an event, its result and the log lines it wrote."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from devkit.core.project import ToolingError
from devkit.engines import Engine

ALIAS = "live"


@dataclass(frozen=True)
class Invocation:
    function: str
    version: str
    status_code: int
    payload: Any
    function_error: str | None
    log_lines: list[str]


def read_event(source: str, stdin: TextIO = sys.stdin) -> dict[str, Any]:
    """The event in the file `source` (`-`: standard input; empty: `{}`), which must be a JSON object."""
    if not source:
        return {}
    where = "standard input" if source == "-" else source
    try:
        text = stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise ToolingError(f"Cannot read the event file {source}: {error.strerror or error}.") from None
    try:
        event = json.loads(text)
    except ValueError as error:
        raise ToolingError(f"The event in {where} is not JSON: {error}.") from None
    if not isinstance(event, dict):
        raise ToolingError(f"The event in {where} must be a JSON object, not {type(event).__name__}.")
    return event


def invoke(engine: Engine, function_name: str, event: dict[str, Any]) -> Invocation:
    """Invoke the function's `live` alias synchronously, asking for the tail of its log."""
    reply = engine.client("lambda").invoke(
        FunctionName=function_name,
        Qualifier=ALIAS,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(event).encode(),
    )
    raw = reply["Payload"].read().decode(errors="replace")
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw
    tail = base64.b64decode(reply.get("LogResult", "")).decode(errors="replace")
    return Invocation(
        function=function_name,
        version=str(reply.get("ExecutedVersion", ALIAS)),
        status_code=int(reply["StatusCode"]),
        payload=payload,
        function_error=reply.get("FunctionError"),
        log_lines=[line for line in tail.splitlines() if line.strip()],
    )
