"""`invoke trace ID`: the journey of one write across the stack, read from the functions' structured logs.

A write leaves these marks (Powertools Logger JSON lines, plus Lambda's report line of each invocation):
- the sender's `Purchase write accepted`: purchase_id, correlation_id (API Gateway's request id), message_id,
  request_time_epoch (when API Gateway received the request);
- the writer's `Write message applied` / `... superseded` / `... failed`: the same correlation_id and purchase_id,
  and the write's stamp, which becomes the item's `Version`;
- the notifier's `Change to notify` (purchase_id, stamp) and one `Change pushed` per WebSocket push (purchase_id,
  connection_id, outcome, push_ms) in the same invocation (function_request_id);
- each invocation's report (`REPORT RequestId: ... Duration: N ms`, or `platform.report` in Lambda's JSON log
  format on AWS): when it ended and how long it ran.

Only FilterLogEvents on the same fields is used, so the same command reads MiniStack, LocalStack and AWS. The
time of a line is the one Powertools wrote in it: MiniStack stamps every line of an invocation with the
invocation's end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.logs import LogEvent, read_events, text_pattern

ACCEPTED: Final = "Purchase write accepted"
APPLIED: Final = "Write message applied"
CHANGE: Final = "Change to notify"
PUSHED: Final = "Change pushed"
_TRACE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}")
_TEXT_REPORT: Final = re.compile(r"REPORT RequestId: (\S+)\s+Duration: ([\d.]+) ms")
# The functions whose lines name a write's purchase and request.
_WRITE_SOURCES: Final = ("sender", "writer")


@dataclass(frozen=True, slots=True)
class Record:
    """One log line: its source function, when it was written (ms since the epoch) and its JSON fields."""

    source: str
    at_ms: float
    fields: Mapping[str, Any]

    @property
    def message(self) -> str:
        return str(self.fields.get("message", ""))

    @property
    def request_id(self) -> str:
        return str(self.fields.get("function_request_id", ""))

    def get(self, name: str) -> Any:
        return self.fields.get(name)


@dataclass(frozen=True, slots=True)
class Invocation:
    """A function's invocation from its report line: when it ended and how long it ran (ms)."""

    request_id: str
    end_ms: float
    duration_ms: float

    @property
    def start_ms(self) -> float:
        return self.end_ms - self.duration_ms


@dataclass(frozen=True, slots=True)
class Step:
    name: str  # API request, sender, queue wait, writer, table change, stream, notifier, push
    start_ms: float
    end_ms: float
    detail: str
    function: str = ""

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Journey:
    """One write's way through the stack, its steps in the order the write takes them (API request, sender, queue
    wait, writer, table change, stream, notifier, pushes); a step's measured start may precede the one before it
    (the writer can pick a message up before the sender has logged sending it)."""

    correlation_id: str
    purchase_id: str
    action: str
    steps: list[Step] = field(default_factory=list)

    @property
    def start_ms(self) -> float:
        return min(step.start_ms for step in self.steps)

    @property
    def end_ms(self) -> float:
        return max(step.end_ms for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "correlationId": self.correlation_id,
            "purchaseId": self.purchase_id,
            "action": self.action,
            "startMs": round(self.start_ms, 1),
            "durationMs": round(self.end_ms - self.start_ms, 1),
            "steps": [
                {
                    "step": step.name,
                    "function": step.function,
                    "startMs": round(step.start_ms, 1),
                    "offsetMs": round(step.start_ms - self.start_ms, 1),
                    "durationMs": round(step.duration_ms, 1),
                    "detail": step.detail,
                }
                for step in self.steps
            ],
        }


class UnknownTrace(ToolingError):
    pass


def check_trace_id(trace_id: str) -> str:
    if not _TRACE_ID.fullmatch(trace_id):
        raise ToolingError(
            f"{trace_id!r} is not a purchase id or a correlation id (letters, digits, '.', '_', ':', '-')."
        )
    return trace_id


# ---------------------------------------------------------------------------------------------- reading lines


def powertools_time(text: str) -> float | None:
    """Powertools' `timestamp` ("2026-12-04 18:35:52,583+0000") as ms since the epoch."""
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f%z").timestamp() * 1000
    except (TypeError, ValueError):
        return None


def record_of(event: LogEvent) -> Record | None:
    """The event's JSON line as a Record (timed by Powertools' own timestamp), None for any other line."""
    try:
        fields = json.loads(event.message)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    at = powertools_time(str(fields.get("timestamp", "")))
    return Record(event.source, at if at is not None else float(event.timestamp), fields)


def invocation_of(event: LogEvent) -> Invocation | None:
    """The invocation an event reports on: Lambda's text `REPORT` line, or its JSON `platform.report` record."""
    match = _TEXT_REPORT.match(event.message)
    if match:
        return Invocation(match.group(1), float(event.timestamp), float(match.group(2)))
    if '"platform.report"' not in event.message:
        return None
    try:
        report = json.loads(event.message)
        record = report["record"]
        end = datetime.fromisoformat(str(report["time"]).replace("Z", "+00:00")).timestamp() * 1000
        return Invocation(str(record["requestId"]), end, float(record["metrics"]["durationMs"]))
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------- the journey


def journeys(
    trace_id: str, records: Sequence[Record], invocations: Mapping[str, Invocation]
) -> list[Journey]:
    """Every write `trace_id` names (its purchase id: each write to that purchase; its correlation id: that one
    request), oldest first, from the records of the sender, writer and notifier and their invocations."""
    writes = [
        record
        for record in records
        if record.source in _WRITE_SOURCES
        and trace_id in (record.get("purchase_id"), record.get("correlation_id"))
        and record.get("correlation_id")
    ]
    order: dict[str, float] = {}
    for record in sorted(writes, key=lambda record: record.at_ms):
        order.setdefault(str(record.get("correlation_id")), record.at_ms)
    return [_journey(correlation_id, records, invocations) for correlation_id in order]


def _journey(
    correlation_id: str, records: Sequence[Record], invocations: Mapping[str, Invocation]
) -> Journey:
    own = sorted(
        (
            record
            for record in records
            if record.source in _WRITE_SOURCES and record.get("correlation_id") == correlation_id
        ),
        key=lambda record: record.at_ms,
    )
    purchase_id = next((str(record.get("purchase_id")) for record in own if record.get("purchase_id")), "")
    action = next((str(record.get("action")) for record in own if record.get("action")), "")
    steps: list[Step] = []
    accepted = next((r for r in own if r.source == "sender" and r.message == ACCEPTED), None)
    if accepted is not None:
        sender = invocations.get(accepted.request_id)
        answered = sender.end_ms if sender else accepted.at_ms
        received = accepted.get("request_time_epoch")
        if isinstance(received, int | float) and received <= answered:
            steps.append(
                Step("API request", float(received), answered, f"{action} {purchase_id}, answered 202")
            )
        steps.append(
            _invocation_step(
                "sender", accepted, sender, f"accepted; queued message {accepted.get('message_id') or '?'}"
            )
        )
    attempts = [record for record in own if record.source == "writer"]
    queued_at = accepted.at_ms if accepted is not None else None
    for attempt in attempts:
        writer = invocations.get(attempt.request_id)
        if queued_at is not None:
            picked_up = writer.start_ms if writer else attempt.at_ms
            steps.append(Step("queue wait", queued_at, max(queued_at, picked_up), "on the write queue"))
            queued_at = None  # a retry waits again, but from when the queue hid the message: not in the logs
        steps.append(_invocation_step("writer", attempt, writer, _writer_outcome(attempt)))
    applied = [attempt for attempt in attempts if attempt.message == APPLIED]
    for write in applied:
        stamp = write.get("stamp")
        steps.append(Step("table change", write.at_ms, write.at_ms, f"Version {stamp}", "writer"))
        steps.extend(_notifications(write, purchase_id, records, invocations))
    if not steps:  # a request that queued nothing (refused, failed): its lines are its journey
        steps = [
            Step(record.source, record.at_ms, record.at_ms, record.message, record.source) for record in own
        ]
    return Journey(correlation_id, purchase_id, action, steps)


def _invocation_step(name: str, record: Record, invocation: Invocation | None, detail: str) -> Step:
    if invocation is None:
        return Step(name, record.at_ms, record.at_ms, detail, record.source)
    return Step(name, invocation.start_ms, invocation.end_ms, detail, record.source)


def _writer_outcome(record: Record) -> str:
    if record.message == APPLIED:
        return "applied"
    reason = record.get("reason")
    return f"{record.message.lower()}{f': {reason}' if reason else ''}"


def _notifications(
    write: Record, purchase_id: str, records: Sequence[Record], invocations: Mapping[str, Invocation]
) -> Iterable[Step]:
    """The stream's delivery of the write's change, the notifier's invocation and each push of the change."""
    changes = [
        record
        for record in records
        if record.source == "notifier"
        and record.message == CHANGE
        and record.get("purchase_id") == purchase_id
        and record.get("stamp") == write.get("stamp")
    ]
    for change in changes[:1]:  # a retried batch notifies again: the first delivery is the journey's
        notifier = invocations.get(change.request_id)
        yield Step(
            "stream",
            write.at_ms,
            max(write.at_ms, notifier.start_ms if notifier else change.at_ms),
            "table stream",
        )
        pushes = [
            record
            for record in records
            if record.source == "notifier"
            and record.message == PUSHED
            and record.request_id == change.request_id
            and record.get("purchase_id") == purchase_id
        ]
        yield _invocation_step(
            "notifier", change, notifier, f"{change.get('change')} to {len(pushes)} connection(s)"
        )
        for push in sorted(pushes, key=lambda record: record.at_ms):
            took = float(push.get("push_ms") or 0)
            yield Step(
                "push",
                push.at_ms - took,
                push.at_ms,
                f"connection {push.get('connection_id')}: {push.get('outcome')}",
                "notifier",
            )


# ---------------------------------------------------------------------------------------------- reading a stack


def trace(engine: Engine, groups: Mapping[str, str], trace_id: str, *, start_ms: int) -> list[Journey]:
    """The journeys of the writes `trace_id` names, read from the log `groups` (source -> log group) from
    `start_ms`; an UnknownTrace when the logs hold no write with that id."""
    check_trace_id(trace_id)
    write_groups = {source: groups[source] for source in _WRITE_SOURCES if source in groups}
    records = _records(engine, write_groups, [trace_id], start_ms)
    named = [r for r in records if trace_id in (r.get("purchase_id"), r.get("correlation_id"))]
    if not named:
        raise UnknownTrace(
            f"No write with purchase id or correlation id {trace_id} in the stack's logs since "
            f"{datetime.fromtimestamp(start_ms / 1000).isoformat(sep=' ', timespec='seconds')}: check the id, "
            "or look further back with --since."
        )
    correlation_ids = {str(r.get("correlation_id")) for r in named if r.get("correlation_id")} - {trace_id}
    purchase_ids = {str(r.get("purchase_id")) for r in named if r.get("purchase_id")}
    # A purchase's writes: their other lines (a failed attempt names only its request); a request: its purchase's
    # notifications.
    records += _records(engine, write_groups, sorted(correlation_ids), start_ms)
    if "notifier" in groups:
        records += _records(engine, {"notifier": groups["notifier"]}, sorted(purchase_ids), start_ms)
    unique = list({json.dumps(r.fields, sort_keys=True, default=str): r for r in records}.values())
    invocations = _invocations(engine, groups, unique, start_ms)
    return journeys(trace_id, unique, invocations)


def _records(engine: Engine, groups: Mapping[str, str], terms: Iterable[str], start_ms: int) -> list[Record]:
    found: list[Record] = []
    for term in terms:
        for event in read_events(engine, groups, start_ms=start_ms, pattern=text_pattern(term)):
            record = record_of(event)
            if record is not None:
                found.append(record)
    return found


def _invocations(
    engine: Engine, groups: Mapping[str, str], records: Iterable[Record], start_ms: int
) -> dict[str, Invocation]:
    """The report of each invocation that wrote one of `records`."""
    wanted = {(record.source, record.request_id) for record in records if record.request_id}
    found: dict[str, Invocation] = {}
    for source, request_id in sorted(wanted):
        events = read_events(
            engine, {source: groups[source]}, start_ms=start_ms, pattern=text_pattern(request_id)
        )
        for event in events:
            invocation = invocation_of(event)
            if invocation is not None and invocation.request_id == request_id:
                found[request_id] = invocation
    return found
