"""What the stack would cost a month on AWS at a given traffic, per component, from a dated price table kept in the
repo (prices.json) and from what each function measured on the local engine: its billed duration and its log bytes
per invocation (the engine's REPORT lines and log events in CloudWatch Logs); memory sizes come from the template.

Without a running engine, or for a function never invoked there yet, the function's figures are the assumed
defaults below, and every such row says `assumed`. Free tiers are left out: the figure is what the traffic costs on
an account that has used them up.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.core.project import ToolingError, stack_name
from devkit.core.template import translate

if TYPE_CHECKING:
    from devkit.engines import Engine

PRICES = Path(__file__).with_name("prices.json")
# The functions' log events read for a measure: the last day's, at most this many per function.
MEASURED_SECONDS = 24 * 3600
MAX_LOG_EVENTS = 20_000
# AWS bills a month as 730 hours.
MINUTES_PER_MONTH = 730 * 60
SECONDS_PER_MONTH = MINUTES_PER_MONTH * 60
# API Gateway closes every WebSocket connection after 2 hours; a client that stays connected reconnects.
CONNECTION_MINUTES = 120
# A KMS HMAC sign when a write is accepted and a verify when it is applied.
KMS_CALLS_PER_WRITE = 2
# Per write: the sender's SendMessage, the event source's ReceiveMessage and DeleteMessage (one message a batch at
# these rates: the writer's batch window is 0).
SQS_REQUESTS_PER_WRITE = 3
# The SQS event source long-polls even when the queue is empty: 5 pollers, each a 20 s ReceiveMessage.
IDLE_POLL_REQUESTS = 5 * SECONDS_PER_MONTH // 20
# Write request units per write (items under 1 KB): the writer's PutItem on the table plus one per index that holds
# the purchase (LivePurchases, PurchasesByOwner), and Powertools' idempotency record (PutItem, then UpdateItem) when
# the request carries an Idempotency-Key, assumed of every write.
TABLE_WRITE_UNITS_PER_WRITE = 1 + 2
IDEMPOTENCY_WRITE_UNITS_PER_WRITE = 2
# A read is one purchase by id: an eventually consistent GetItem of an item under 4 KB.
READ_UNITS_PER_READ = 0.5
# Per connection: $connect's PutItem and the record's removal (by $disconnect, the notifier or the sweep, whichever
# deletes it), each also written to the ClientConnections index, and the lease's UpdateItem on the client's item in
# the lease table when it is taken and when it is given back.
CONNECTION_WRITE_UNITS = 2 * 2 + 2
# The notifier reads the recipients of each change (one change a batch at these rates) with two Queries, the owner's
# connections and the admins', each at least half a read unit (eventually consistent).
NOTIFIER_READ_UNITS_PER_WRITE = 2 * 0.5
# The sweeper runs once a minute whatever the traffic, and scans the connection table each run; a connection record
# is about this size.
SWEEPS_PER_MONTH = MINUTES_PER_MONTH
CONNECTION_ITEM_BYTES = 200
# Each change reaches its owner's connection (and any admin's): one push per write while anyone is connected.
PUSHES_PER_WRITE = 1
# X-Ray's default sampling: the first request each second, then 5 % of the rest.
TRACE_RESERVOIR_PER_SECOND, TRACE_RATE = 1, 0.05


@dataclass(frozen=True)
class Traffic:
    writes: int
    reads: int
    connections: int  # WebSocket clients connected on average, all month


@dataclass(frozen=True)
class FunctionMeasure:
    """What one invocation of a function costs in time and log bytes, and where the figures come from."""

    billed_ms: float
    log_bytes: float
    source: str  # "measured (N invocations)" or "assumed"


# Used when a function has no invocation on the engine to measure (no engine running, or never invoked yet).
ASSUMED = {
    "SenderFunction": FunctionMeasure(60.0, 1500.0, "assumed"),
    "ReaderFunction": FunctionMeasure(40.0, 1200.0, "assumed"),
    "WriterFunction": FunctionMeasure(50.0, 1500.0, "assumed"),
    "NotifierFunction": FunctionMeasure(80.0, 1500.0, "assumed"),
    "AuthorizerFunction": FunctionMeasure(30.0, 800.0, "assumed"),
    "ConnectionsFunction": FunctionMeasure(40.0, 900.0, "assumed"),
    "SweeperFunction": FunctionMeasure(60.0, 1000.0, "assumed"),
}


@dataclass(frozen=True)
class StackFacts:
    """What the template fixes: each function's memory, and the resources billed by the month."""

    memory_mb: Mapping[str, int]
    kms_keys: int
    alarms: int


@dataclass(frozen=True)
class Line:
    component: str
    usage: str
    dollars: float
    basis: str


def stack_facts(template: Mapping[str, Any] | None = None) -> StackFacts:
    """From the template after the SAM transform (Globals applied)."""
    template = translate() if template is None else template
    resources: Mapping[str, Any] = template["Resources"]
    memory = {
        logical_id: int(resource["Properties"].get("MemorySize", 128))
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    kinds = Counter(str(resource["Type"]) for resource in resources.values())
    return StackFacts(memory, kinds["AWS::KMS::Key"], kinds["AWS::CloudWatch::Alarm"])


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return table


_REPORT = re.compile(r"^REPORT RequestId: .*?Billed Duration: (?P<billed>[\d.]+) ms")


def measure_function(messages: list[str]) -> FunctionMeasure | None:
    """A function's median billed duration and mean log bytes per invocation from its log events (every line
    counts: AWS ingests START, END and REPORT too); None when no invocation finished. The median, because the few
    local invocations include cold starts, which are rare at a month's traffic."""
    billed = [float(match["billed"]) for line in messages if (match := _REPORT.match(line))]
    if not billed:
        return None
    total_bytes = sum(len(line.encode()) for line in messages)
    return FunctionMeasure(
        math.ceil(statistics.median(billed)),
        total_bytes / len(billed),
        f"measured ({len(billed)} invocations)",
    )


def measured_functions(engine: Engine, stage: str) -> dict[str, FunctionMeasure]:
    """Each of the stack's functions measured from its log group on the engine, over the last day and at most
    MAX_LOG_EVENTS events (functions without a finished invocation are left out)."""
    from devkit.stack.stacks import stack_functions

    logs = engine.client("logs")
    since = int((time.time() - MEASURED_SECONDS) * 1000)
    measured: dict[str, FunctionMeasure] = {}
    for logical_id, physical in stack_functions(engine, stack_name(stage)).items():
        messages: list[str] = []
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{physical}", startTime=since
        )
        try:
            for page in pages:
                messages.extend(event["message"].rstrip("\n") for event in page.get("events", []))
                if len(messages) >= MAX_LOG_EVENTS:
                    break
        except logs.exceptions.ResourceNotFoundException:
            continue
        if (measure := measure_function(messages)) is not None:
            measured[logical_id] = measure
    return measured


def estimate(
    traffic: Traffic,
    functions: Mapping[str, FunctionMeasure],
    facts: StackFacts,
    prices: Mapping[str, float],
) -> list[Line]:
    """The month's cost per component. `functions` holds a measure for each of the stack's functions."""
    w, r, k = traffic.writes, traffic.reads, traffic.connections
    connects = k * MINUTES_PER_MONTH / CONNECTION_MINUTES
    invocations = {
        "SenderFunction": w,
        "ReaderFunction": r,
        "WriterFunction": w,
        "NotifierFunction": w,
        "AuthorizerFunction": connects,
        "ConnectionsFunction": 2 * connects,
        "SweeperFunction": SWEEPS_PER_MONTH,
    }
    lines = [
        Line(
            "API Gateway REST requests",
            f"{w + r:,.0f} requests",
            (w + r) / 1e6 * prices["rest_api_requests_per_million"],
            "one per write and per read",
        ),
        Line(
            "API Gateway WebSocket messages",
            f"{w * PUSHES_PER_WRITE * (k > 0):,.0f} messages",
            w * PUSHES_PER_WRITE * (k > 0) / 1e6 * prices["websocket_messages_per_million"],
            f"{PUSHES_PER_WRITE} push per write while clients are connected",
        ),
        Line(
            "API Gateway WebSocket connection minutes",
            f"{k * MINUTES_PER_MONTH:,.0f} minutes",
            k * MINUTES_PER_MONTH / 1e6 * prices["websocket_connection_minutes_per_million"],
            f"{k} connection(s) all month",
        ),
    ]
    for logical_id, count in invocations.items():
        measure = functions[logical_id]
        memory = facts.memory_mb[logical_id]
        gb_seconds = count * measure.billed_ms / 1000 * memory / 1024
        lines.append(
            Line(
                f"Lambda {logical_id.removesuffix('Function').lower()}",
                f"{count:,.0f} invocations, {gb_seconds:,.0f} GB-s",
                count / 1e6 * prices["lambda_requests_per_million"] + gb_seconds * prices["lambda_gb_second"],
                f"{measure.billed_ms:.0f} ms billed x {memory} MB, {measure.source}",
            )
        )
    sqs = w * SQS_REQUESTS_PER_WRITE
    lines += [
        Line(
            "SQS requests",
            f"{sqs:,.0f} requests",
            sqs / 1e6 * prices["sqs_requests_per_million"],
            f"{SQS_REQUESTS_PER_WRITE} per write (send, receive, delete)",
        ),
        Line(
            "SQS event source polling while idle",
            f"{IDLE_POLL_REQUESTS:,.0f} requests",
            IDLE_POLL_REQUESTS / 1e6 * prices["sqs_requests_per_million"],
            "5 long polls of 20 s at a time, all month",
        ),
    ]
    write_units = (
        w * (TABLE_WRITE_UNITS_PER_WRITE + IDEMPOTENCY_WRITE_UNITS_PER_WRITE)
        + connects * CONNECTION_WRITE_UNITS
    )
    # A scan reads every record, at least half a read unit even on an empty table.
    scan_units = max(0.5, math.ceil(k * CONNECTION_ITEM_BYTES / 4096) * 0.5)
    read_units = r * READ_UNITS_PER_READ + w * NOTIFIER_READ_UNITS_PER_WRITE + SWEEPS_PER_MONTH * scan_units
    lines += [
        Line(
            "DynamoDB write request units",
            f"{write_units:,.0f} WRU",
            write_units / 1e6 * prices["dynamodb_write_request_units_per_million"],
            f"{TABLE_WRITE_UNITS_PER_WRITE} per write with the 2 index writes, {IDEMPOTENCY_WRITE_UNITS_PER_WRITE} "
            f"idempotency, {CONNECTION_WRITE_UNITS} per connection with its lease",
        ),
        Line(
            "DynamoDB read request units",
            f"{read_units:,.0f} RRU",
            read_units / 1e6 * prices["dynamodb_read_request_units_per_million"],
            f"{READ_UNITS_PER_READ} per read, {NOTIFIER_READ_UNITS_PER_WRITE} per write (the notifier's recipient "
            f"queries), {scan_units} per sweep (the connection scan, once a minute)",
        ),
        Line(
            "DynamoDB stream reads",
            f"{w:,.0f} records",
            w / 1e6 * prices["dynamodb_stream_reads_by_lambda_per_million"],
            "GetRecords by a Lambda trigger is free",
        ),
    ]
    log_bytes = sum(count * functions[name].log_bytes for name, count in invocations.items())
    lines.append(
        Line(
            "CloudWatch Logs ingestion",
            f"{log_bytes / 2**30:,.2f} GB",
            log_bytes / 2**30 * prices["logs_ingested_per_gb"],
            "the functions' log bytes per invocation; API Gateway's own logs not included",
        )
    )
    kms_calls = w * KMS_CALLS_PER_WRITE
    lines += [
        Line(
            "KMS requests",
            f"{kms_calls:,.0f} requests",
            kms_calls / 1e4 * prices["kms_requests_per_10000"],
            f"{KMS_CALLS_PER_WRITE} per write (HMAC sign and verify)",
        ),
        Line(
            "KMS keys",
            f"{facts.kms_keys} key(s)",
            facts.kms_keys * prices["kms_key_per_month"],
            "per key and month",
        ),
    ]
    requests_per_second = (w + r) / SECONDS_PER_MONTH
    sampled_per_second = min(requests_per_second, TRACE_RESERVOIR_PER_SECOND) + TRACE_RATE * max(
        0.0, requests_per_second - TRACE_RESERVOIR_PER_SECOND
    )
    traces = sampled_per_second * SECONDS_PER_MONTH
    lines += [
        Line(
            "X-Ray traces",
            f"{traces:,.0f} traces",
            traces / 1e6 * prices["xray_traces_per_million"],
            "default sampling (1 a second, then 5 %) of the API requests",
        ),
        Line(
            "CloudWatch alarms",
            f"{facts.alarms} alarm(s)",
            facts.alarms * prices["alarm_per_month"],
            "standard resolution, per alarm and month",
        ),
    ]
    return lines


def monthly_cost(
    traffic: Traffic,
    *,
    engine: Engine | None,
    stage: str,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """The estimate with what it rests on: the price table, and each function's figures (measured on `engine`
    where it has invocations, assumed otherwise)."""
    table = load_prices()
    facts = stack_facts()
    unknown = sorted(set(facts.memory_mb) - set(ASSUMED))
    if unknown:
        raise ToolingError(
            f"The cost model has no invocation count for {', '.join(unknown)}: add it to devkit/bench/cost.py."
        )
    measured = measured_functions(engine, stage) if engine is not None else {}
    functions = {name: measured.get(name, ASSUMED[name]) for name in facts.memory_mb}
    assumed = sorted(name for name, measure in functions.items() if measure.source == "assumed")
    if assumed and engine is not None:
        progress(f"Assumed figures (no measured invocation) for: {', '.join(assumed)}.")
    lines = estimate(traffic, functions, facts, table["prices"])
    return {
        "traffic": asdict(traffic),
        "region": table["region"],
        "currency": table["currency"],
        "prices": {"file": str(PRICES.name), "date": table["date"], "sources": table["sources"]},
        "functions": {name: asdict(measure) for name, measure in functions.items()},
        "lines": [asdict(line) for line in lines],
        "total": sum(line.dollars for line in lines),
    }
