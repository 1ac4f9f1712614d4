"""Measure a running stack: write load and soak, list latency over tombstones."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, engine_named, say
from devkit.core import ui
from devkit.core.project import check_stage


@command(
    help={
        "requests": "writes to send (default 2000; with --soak, accepted writes wanted, default 10000)",
        "concurrency": "client threads, each on its own keep-alive connection (default 16)",
        "out": "where to write the JSON report (default bench/results/<bench|soak>-<time>.json)",
        "soak": "inject writer faults and check that no accepted write is lost or applied twice",
        "target": "ministack (default), localstack or aws (the soak runs on the local engines only)",
        "stage": "stage to load (default dev; the soak refuses prod)",
        "keep": "keep the run's purchases in the table (they are deleted afterwards otherwise)",
        "rate": "pace the writes at this many per second in total (default 0: as fast as the API answers)",
        "baseline": "also deploy the template with bare handlers and load both, alternating (our share of the "
        "engine's ceiling)",
        "first_write": "restart the engine (down + up) and time the first write against warm ones",
        "lag_sample_percent": "percentage of accepted writes, drawn at random, whose lag is polled (default 5; 100 = all)",
    }
)
def bench(
    c: Context,
    requests: int = 0,
    concurrency: int = 16,
    out: str = "",
    soak: bool = False,
    target: str = "ministack",
    stage: str = "dev",
    keep: bool = False,
    rate: int = 0,
    baseline: bool = False,
    first_write: bool = False,
    lag_sample_percent: int = 5,
) -> None:
    """Load the running stack: latency, throughput, lag, lost writes, engine memory and SendMessage floor."""

    from devkit import bench as benchmark

    command_line = shlex.join(["invoke", *sys.argv[1:]])
    if requests < 0 or concurrency < 1 or rate < 0 or not 0 < lag_sample_percent <= 100:
        raise Exit(
            "--requests and --rate must be >= 0, --concurrency >= 1, --lag-sample-percent 1..100.", code=1
        )
    engine = engine_named(target)
    check_stage(stage)
    if soak:
        report = benchmark.run_soak(
            engine,
            stage,
            writes=requests or benchmark.DEFAULT_SOAK_WRITES,
            concurrency=concurrency,
            keep_data=keep,
            command=command_line,
            progress=say,
        )
    else:
        settings = benchmark.BenchSettings(
            requests=requests or benchmark.DEFAULT_REQUESTS,
            concurrency=concurrency,
            keep_data=keep,
            rate=rate,
            baseline=baseline,
            first_write=first_write,
            lag_sample=lag_sample_percent / 100,
        )
        report = benchmark.run_benchmark(engine, stage, settings, command=command_line, progress=say)
    path = benchmark.save_json(report, Path(out) if out else benchmark.default_json_path(report.kind))
    ui.report(f"\n{benchmark.format_report(report)}")
    say(f"\nJSON: {path}")
    if not report.passed:
        raise Exit("Some accepted writes were lost or applied twice (see above).", code=1)


@command(
    help={
        "tombstones": "tombstones to add for the second phase (default 10000; removed afterwards)",
        "requests": "list requests per phase (default 300)",
        "limit": "page size (default 50)",
        "stage": "stage to measure (default dev; never prod, which it would fill with tombstones)",
    }
)
def bench_list(
    c: Context,
    tombstones: int = 10_000,
    requests: int = 300,
    limit: int = 50,
    target: str = "ministack",
    stage: str = "dev",
) -> None:
    """List latency p50/p95 on the table as it is, then with thousands of tombstones added."""
    from devkit.bench.listing import run_list_bench

    if tombstones < 1 or requests < 1 or not 1 <= limit <= 100:
        raise Exit("--tombstones and --requests must be >= 1, --limit 1..100.", code=1)
    if check_stage(stage) == "prod":
        raise Exit("bench-list writes tombstones into the table: not on prod.", code=1)
    report = run_list_bench(
        engine_named(target), stage, tombstones=tombstones, requests=requests, limit=limit, progress=say
    )
    ui.report(f"\n{report.format()}")
