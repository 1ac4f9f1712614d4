"""The monthly cost estimate against a hand calculation, with a price table and function figures fixed here (the
arithmetic, not AWS's current prices, is what is checked), plus the measure taken from a function's log lines."""

from __future__ import annotations

import pytest

from devkit.bench.cost import (
    ASSUMED,
    FunctionMeasure,
    StackFacts,
    Traffic,
    estimate,
    load_prices,
    measure_function,
    stack_facts,
)

PRICES = {
    "lambda_requests_per_million": 0.20,
    "lambda_gb_second": 0.0000166667,
    "rest_api_requests_per_million": 3.50,
    "websocket_messages_per_million": 1.00,
    "websocket_connection_minutes_per_million": 0.25,
    "sqs_requests_per_million": 0.40,
    "dynamodb_write_request_units_per_million": 0.625,
    "dynamodb_read_request_units_per_million": 0.125,
    "dynamodb_stream_reads_by_lambda_per_million": 0.0,
    "logs_ingested_per_gb": 0.50,
    "kms_requests_per_10000": 0.03,
    "kms_key_per_month": 1.00,
    "xray_traces_per_million": 5.00,
    "alarm_per_month": 0.10,
}
# Every function bills 100 ms and logs 1,000 bytes an invocation; the writer has 512 MB, the others 256 MB.
FUNCTIONS = {name: FunctionMeasure(100.0, 1000.0, "assumed") for name in ASSUMED}
FACTS = StackFacts(
    {name: 512 if name == "WriterFunction" else 256 for name in ASSUMED}, kms_keys=1, alarms=10
)


def test_one_million_writes_and_two_million_reads_cost_what_the_hand_calculation_says() -> None:
    # Given 1,000,000 writes and 2,000,000 reads a month, and nobody connected to the WebSocket API
    traffic = Traffic(writes=1_000_000, reads=2_000_000, connections=0)

    # When the month is estimated
    lines = {line.component: line.dollars for line in estimate(traffic, FUNCTIONS, FACTS, PRICES)}

    # Then each component is, by hand:
    expected = {
        # 3,000,000 REST requests x $3.50 / million
        "API Gateway REST requests": 10.50,
        # no connection: no push, no connection minute
        "API Gateway WebSocket messages": 0.0,
        "API Gateway WebSocket connection minutes": 0.0,
        # sender: 1,000,000 x $0.20/M = 0.20, plus 1,000,000 x 0.1 s x 0.25 GB = 25,000 GB-s x 0.0000166667
        "Lambda sender": 0.20 + 25_000 * 0.0000166667,
        # reader: 2,000,000 requests = 0.40, 50,000 GB-s
        "Lambda reader": 0.40 + 50_000 * 0.0000166667,
        # writer: one invocation per write, 512 MB: 1,000,000 x 0.1 s x 0.5 GB = 50,000 GB-s
        "Lambda writer": 0.20 + 50_000 * 0.0000166667,
        # notifier: one invocation per change, 25,000 GB-s
        "Lambda notifier": 0.20 + 25_000 * 0.0000166667,
        # no connection, no authorizer or connections invocation
        "Lambda authorizer": 0.0,
        "Lambda connections": 0.0,
        # sweeper: once a minute whatever the traffic, 43,800 runs = 0.00876, 43,800 x 0.1 s x 0.25 GB = 1,095 GB-s
        "Lambda sweeper": 43_800 * 0.20 / 1e6 + 1_095 * 0.0000166667,
        # 3 requests per write: 3,000,000 x $0.40/M
        "SQS requests": 1.20,
        # 5 pollers x (730 h x 3,600 s / 20 s) = 657,000 requests x $0.40/M
        "SQS event source polling while idle": 0.2628,
        # (1 table + 2 index + 2 idempotency) WRU x 1,000,000 writes = 5,000,000 x $0.625/M
        "DynamoDB write request units": 3.125,
        # 0.5 RRU x 2,000,000 reads + 2 recipient queries x 0.5 RRU x 1,000,000 writes + 43,800 scans of the
        # empty connection table x 0.5 RRU = 2,021,900 x $0.125/M
        "DynamoDB read request units": 2_021_900 * 0.125 / 1e6,
        "DynamoDB stream reads": 0.0,
        # (1 + 2 + 1 + 1) million invocations + 43,800 sweeps, x 1,000 bytes = 5.0438e9 bytes x $0.50 / GiB
        "CloudWatch Logs ingestion": 5.0438e9 / 2**30 * 0.50,
        # 2 KMS calls per write: 2,000,000 / 10,000 x $0.03; one key at $1
        "KMS requests": 6.00,
        "KMS keys": 1.00,
        # 3,000,000 requests over 2,628,000 s: all of the first one each second (2,628,000) and 5 % of the
        # other 372,000 (18,600) = 2,646,600 traces x $5/M
        "X-Ray traces": 13.233,
        # 10 alarms x $0.10
        "CloudWatch alarms": 1.00,
    }
    assert lines == pytest.approx(expected)
    # And the month totals $42.45
    assert sum(lines.values()) == pytest.approx(42.449255, abs=1e-5)


def test_connections_cost_minutes_pushes_and_a_reconnect_every_two_hours() -> None:
    # Given 10 clients connected all month and 1,000 writes
    lines = {
        line.component: line
        for line in estimate(Traffic(writes=1_000, reads=0, connections=10), FUNCTIONS, FACTS, PRICES)
    }

    # Then 10 x 43,800 minutes = 438,000 connection minutes x $0.25/M
    assert lines["API Gateway WebSocket connection minutes"].dollars == pytest.approx(0.1095)
    # And one push per write: 1,000 messages x $1/M
    assert lines["API Gateway WebSocket messages"].dollars == pytest.approx(0.001)
    # And each client reconnects every 2 hours: 10 x 43,800 / 120 = 3,650 authorizer invocations
    assert lines["Lambda authorizer"].usage.startswith("3,650 invocations")
    assert lines["Lambda connections"].usage.startswith("7,300 invocations")  # $connect and $disconnect
    # And each connection writes its record, its removal (each with the ClientConnections index) and its lease
    # taken and given back: 3,650 x 6 WRU = 21,900, with 1,000 writes x 5 WRU = 26,900 WRU
    assert lines["DynamoDB write request units"].usage == "26,900 WRU"
    # And the sweeper runs once a minute whatever the traffic, each run scanning the (10 record) connection table
    assert lines["Lambda sweeper"].usage.startswith("43,800 invocations")


def test_a_functions_measure_is_its_median_billed_duration_and_its_log_bytes_per_invocation() -> None:
    # Given a cold invocation (900 ms) and two warm ones, with their log lines
    lines = [
        "START RequestId: a Version: 1",
        "REPORT RequestId: a\tDuration: 900.1 ms\tBilled Duration: 901 ms\tMemory Size: 256 MB",
        "START RequestId: b Version: 1",
        "REPORT RequestId: b\tDuration: 20.5 ms\tBilled Duration: 21 ms\tMemory Size: 256 MB",
        "REPORT RequestId: c\tDuration: 30 ms\tBilled Duration: 30 ms\tMemory Size: 256 MB",
    ]

    measure = measure_function(lines)

    # Then the cold start does not set the figure, and every byte of every line is counted
    assert measure is not None
    assert measure.billed_ms == 30
    assert measure.log_bytes == pytest.approx(sum(len(line) for line in lines) / 3)
    assert measure.source == "measured (3 invocations)"
    # And a function with no finished invocation has no measure
    assert measure_function(["START RequestId: a Version: 1"]) is None


def test_the_repos_price_table_and_template_fit_the_model() -> None:
    table = load_prices()
    assert set(table["prices"]) == set(PRICES)
    assert table["region"] == "us-east-1" and table["date"]
    # Every function of the template has a place in the model (a new one must be added to it)
    facts = stack_facts()
    assert set(facts.memory_mb) == set(ASSUMED)
    assert facts.kms_keys >= 1 and facts.alarms >= 1
