"""The benchmark's own arithmetic and reporting: percentiles, where each write ended up, memory of a process
tree, and the report people read. No network: the load itself is exercised by `invoke bench`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from devkit.bench.load import purchase_body, write_key
from devkit.bench.processes import TreeMemory, busy_seconds, cpu_seconds, tree_memory
from devkit.bench.report import (
    Baseline,
    EngineFigures,
    FirstWrite,
    Floor,
    Memory,
    Report,
    Target,
    engine_targets,
    format_report,
    save_json,
    targets_for,
    to_json,
)
from devkit.bench.stats import Distribution, account_writes, percentile, rate
from devkit.core.waiting import wait_for
from purchases.rules import parse_purchase

MIB = 1024 * 1024

# -- percentiles


def test_percentile_is_an_observed_value_by_nearest_rank() -> None:
    # Given 1..100 ms in shuffled order
    values = [float(v) for v in range(100, 0, -1)]

    # Then p50, p95 and p99 are the 50th, 95th and 99th smallest, and p100 the largest
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0


def test_percentile_of_few_values_rounds_the_rank_up() -> None:
    # Given three durations, p50 is the second and p95/p99 the slowest (never an interpolated value)
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0
    assert percentile([30.0, 10.0, 20.0], 95) == 30.0
    assert percentile([7.0], 1) == 7.0


def test_percentile_of_nothing_is_none_and_a_bad_rank_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 0)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_distribution_reports_seconds_as_milliseconds() -> None:
    # Given four request durations in seconds
    summary = Distribution.of_seconds([0.010, 0.020, 0.030, 0.100])

    # Then the summary is in milliseconds
    assert summary.count == 4
    assert summary.p50 == pytest.approx(20.0)
    assert summary.p95 == pytest.approx(100.0)
    assert summary.mean == pytest.approx(40.0)
    assert summary.max == pytest.approx(100.0)


def test_empty_distribution_has_no_figures() -> None:
    summary = Distribution.of_seconds([])
    assert (summary.count, summary.p50, summary.p99, summary.max) == (0, None, None, None)


def test_rate_needs_a_duration() -> None:
    assert rate(300, 2.0) == 150.0
    assert rate(5, 0.0) is None


# -- where the writes ended up


def test_every_write_in_the_table_is_clean() -> None:
    # Given three accepted writes, all three in the table
    accepted = {"k1": "id1", "k2": "id2", "k3": "id3"}
    table = [("id1", "k1"), ("id2", "k2"), ("id3", "k3")]

    # When they are accounted for
    result = account_writes(accepted, table, [])

    # Then nothing is lost or duplicated
    assert (result.accepted, result.in_table, result.lost, result.duplicated) == (3, 3, 0, 0)
    assert result.clean


def test_a_write_in_neither_table_nor_dlq_is_lost() -> None:
    # Given an accepted write that is nowhere
    result = account_writes({"k1": "id1", "k2": "id2"}, [("id1", "k1")], [])

    # Then it is lost, and named
    assert result.lost == 1
    assert result.lost_keys == ("k2",)
    assert not result.clean


def test_a_write_in_the_dlq_is_not_lost() -> None:
    # Given one write in the table, one only in the DLQ and one in both (crashed after its table write)
    accepted = {"k1": "id1", "k2": "id2", "k3": "id3"}
    table = [("id1", "k1"), ("id3", "k3")]

    result = account_writes(accepted, table, ["id2", "id3", "someone-elses-id"])

    # Then none is lost, and the DLQ only counts this run's writes
    assert (result.lost, result.in_table, result.in_dlq, result.in_both) == (0, 2, 2, 1)
    assert result.clean


def test_a_write_applied_twice_is_a_duplicate() -> None:
    # Given one logical write that left two items (two ids), one of them never acknowledged
    accepted = {"k1": "id1", "k2": "id2"}
    table = [("id1", "k1"), ("id2", "k2"), ("id9", "k2")]

    result = account_writes(accepted, table, [])

    # Then it is a duplicate, and the extra item is counted as unacknowledged
    assert result.duplicated == 1
    assert result.duplicated_keys == ("k2",)
    assert result.unacknowledged == 1
    assert not result.clean


def test_an_item_returned_twice_by_a_paging_scan_is_not_a_duplicate() -> None:
    result = account_writes({"k1": "id1"}, [("id1", "k1"), ("id1", "k1")], [])
    assert (result.duplicated, result.in_table) == (0, 1)
    assert result.clean


def test_two_writes_given_the_same_id_count_as_lost() -> None:
    # Given two different logical writes the API answered with one id: only one item can survive
    result = account_writes({"k1": "id1", "k2": "id1"}, [("id1", "k1")], [])

    # Then both are reported lost rather than silently counted as written
    assert result.lost == 2
    assert not result.clean


def test_examples_are_bounded() -> None:
    accepted = {f"k{n}": f"id{n}" for n in range(100)}
    result = account_writes(accepted, [], [], sample=5)
    assert result.lost == 100
    assert len(result.lost_keys) == 5


# -- the purchases the benchmark sends


def test_benchmark_purchase_is_valid_and_names_its_run() -> None:
    # Given the body the benchmark sends for write 7 of a run
    document = json.loads(purchase_body("bench-run", 7), parse_float=Decimal)

    # When the service's own rules parse it
    parse_purchase(document)

    # Then it carries the run (to find its items) and its key (to spot a write applied twice)
    assert document["CustomerId"] == "bench-run"
    assert document["ProductId"] == write_key("bench-run", 7) == "bench-run-7"


# -- memory of the engine and its workers


def test_tree_memory_sums_the_engine_and_its_workers() -> None:
    # Given a process (the "engine") that started a child (a "worker") which started a grandchild
    sleep = "import time; time.sleep(60)"
    worker = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleep!r}]); time.sleep(60)"
    )
    engine_code = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)"
    )
    engine = subprocess.Popen([sys.executable, "-c", engine_code])
    try:
        wait_for(lambda: tree_memory(engine.pid).processes == 3, timeout=20, what="the process tree")

        # When its memory is read
        memory = tree_memory(engine.pid)

        # Then the whole tree counts, the engine's own share separately, and CPU time is attributed
        assert memory.total_bytes > memory.root_bytes > 0
        assert memory.cpu_seconds >= memory.root_cpu_seconds >= 0
        assert cpu_seconds(engine.pid) == pytest.approx(
            (memory.root_cpu_seconds, memory.cpu_seconds), abs=0.5
        )
    finally:
        for process in psutil.Process(engine.pid).children(recursive=True):
            process.kill()
        engine.kill()
        engine.wait()


def test_a_process_that_is_gone_has_no_memory() -> None:
    # Given a process that has ended and been reaped
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    # Then it counts for nothing, instead of failing the benchmark
    assert tree_memory(ended.pid) == TreeMemory(0, 0, 0)


def test_machine_busy_time_grows_and_leaves_idle_out() -> None:
    before = busy_seconds()
    assert 0 < before <= sum(psutil.cpu_times())


# -- the report


def _report(*, kind: str = "bench", lost: int = 0, duplicated: int = 0) -> Report:
    post = Distribution.of_seconds([0.010, 0.012, 0.014, 0.200])
    lag = Distribution.of_seconds([0.030, 0.040, 0.050, 0.090])
    memory = Memory(
        peak_bytes=512 * MIB,
        engine_bytes_at_peak=200 * MIB,
        processes_at_peak=8,
        most_processes=9,
        samples=40,
        engine_bytes_at_start=120 * MIB,
        bytes_at_start=170 * MIB,
    )
    table = [(f"id{n}", f"k{n}") for n in range(4)]
    accepted = {f"k{n}": f"id{n}" for n in range(4 + lost)}
    if duplicated:
        table.append(("id-extra", "k0"))
    writes = account_writes(accepted, table, [])
    return Report(
        kind=kind,
        command="invoke bench",
        started_at="2025-01-01T00:00:00+0000",
        machine={"cpus": 2, "cpu_model": "Test CPU", "python": "3.11.7", "ministack": "1.5.33"},
        subject={"engine": "ministack", "stage": "dev", "api": "http://127.0.0.1:4566/x/"},
        settings={"requests": 4, "concurrency": 16},
        post=post,
        get=Distribution.of_seconds([0.005, 0.006]),
        lag=lag,
        post_statuses={"202": 4},
        get_statuses={"200": 2, "404": 3},
        accepted=4,
        sending_seconds=0.01,
        accepted_per_second=400.0,
        writes=writes,
        memory=memory,
        floor=Floor(messages=2000, failures=0, concurrency=16, seconds=2.0, per_second=1000.0),
        targets=targets_for(post, lag, 400.0, memory),
    )


def test_report_table_shows_every_figure() -> None:
    text = format_report(_report())

    # Then latency, lag, throughput, floor, memory and write accounting are all there
    assert "POST latency" in text and "accepted-to-readable" in text and "GET latency" in text
    assert "400.0" in text  # accepted writes/s
    assert "1,000.0" in text  # the SendMessage floor
    assert "512  MB" in text and "engine 200 MB" in text and "before the run 170 MB, engine 120 MB" in text
    assert "lost 0, duplicated 0" in text
    assert "none lost" in text


def test_targets_say_which_were_met() -> None:
    # Given POST p50 12 ms, lag p95 90 ms, 400 writes/s and 512 MB
    verdicts = {target.name: target.met for target in _report().targets}

    # Then the lag target is missed and the others met
    assert verdicts == {
        "POST p50": True,
        "accepted-to-readable p95": False,
        "accepted writes/s": True,
        "peak RSS": True,
    }
    assert "MISSED" in format_report(_report())


def test_a_target_without_a_measurement_is_neither_met_nor_missed() -> None:
    assert Target("peak RSS", 600, "MB", True, None).met is None
    assert Target("writes/s", 300, "/s", False, 299.9).met is False


def test_lost_writes_fail_a_benchmark_and_duplicates_fail_a_soak() -> None:
    assert not _report(lost=1).passed
    assert "Writes: FAILED - 1 lost" in format_report(_report(lost=1))
    assert not _report(kind="soak", duplicated=1).passed
    assert _report(kind="soak").passed


def test_json_report_round_trips_with_verdicts(tmp_path: Path) -> None:
    # When the report is saved
    path = save_json(_report(), tmp_path / "nested" / "bench.json")

    # Then it is JSON with the machine, the figures and a verdict per target
    document = json.loads(path.read_text())
    assert document["machine"]["cpus"] == 2
    assert document["post"]["p50"] == pytest.approx(12.0)
    assert document["memory"]["peak_mb"] == 512.0
    assert document["floor"]["per_second"] == 1000.0
    assert document["writes"]["lost"] == 0
    assert [target["met"] for target in document["targets"]] == [True, False, True, True]
    assert document["passed"] is True
    assert to_json(_report())["kind"] == "bench"


# -- each target by name, the engine's figures, every figure in the JSON


def _figures(*, baseline: bool = True) -> EngineFigures:
    return EngineFigures(
        cold_starts_ms={
            "sender": (220.0, 230.0, 240.0),
            "reader": (200.0, 210.0, 205.0),
            "writer": (300.0, 260.0, 280.0),
        },
        idle_bytes=250 * MIB,
        idle_processes=4,
        back_to_idle_seconds=12.5,
        first_write=FirstWrite(30.0, 40.0, 50.0, (50.0, 48.0), {"sender": 0.8}),
        baseline=Baseline(500, (100.0, 110.0), (120.0, 110.0)) if baseline else None,
        profile="   ncalls  tottime  percall  cumtime  percall filename:lineno(function)",
        lag_sample=0.05,
        lag_sampled=100,
    )


def test_no_blanket_verdict_each_target_is_named_met_or_missed() -> None:
    # Given a run that met some targets and missed others
    report = dataclasses.replace(_report(), targets=(*_report().targets, *engine_targets(_figures())))
    text = format_report(report)

    # Then no single PASS stands for the run: the missed ones are listed by name
    assert "PASS" not in text
    missed_line = next(line for line in text.splitlines() if line.startswith("Targets MISSED"))
    assert "accepted-to-readable p95" in missed_line and "writer import + init (median)" in missed_line
    met_line = next(line for line in text.splitlines() if line.startswith("Targets met"))
    assert "throughput / bare pipeline" in met_line  # 210 / 230 = 0.91 >= 0.9
    assert "sender import + init (median)" in met_line and "sender import + init" not in missed_line


def test_engine_targets_report_what_was_not_measured_as_such() -> None:
    verdicts = {target.name: target.met for target in engine_targets(_figures(baseline=False))}
    assert verdicts["throughput / bare pipeline"] is None
    assert verdicts["first write lag / warm write lag"] is True  # 40 / 50
    assert verdicts["idle RSS before the run"] is True
    assert verdicts["back to idle after the burst"] is True
    assert verdicts["writer import + init (median)"] is False  # median 280 ms
    assert "not measured" in format_report(
        dataclasses.replace(_report(), targets=engine_targets(_figures(baseline=False)))
    )


def test_json_keeps_the_engine_figures_and_every_sample(tmp_path: Path) -> None:
    report = dataclasses.replace(
        _report(), engine_figures=_figures(), samples={"post_ms": (10.0, 12.0), "lag_ms": (30.0,)}
    )
    document = json.loads(save_json(report, tmp_path / "bench.json").read_text())
    assert document["engine_figures"]["cold_starts_ms"]["writer"] == [300.0, 260.0, 280.0]
    assert document["engine_figures"]["baseline_ratio"] == pytest.approx(210 / 230)
    assert document["engine_figures"]["first_write_ratio"] == pytest.approx(0.8)
    assert document["engine_figures"]["back_to_idle_seconds"] == 12.5
    assert document["samples"]["post_ms"] == [10.0, 12.0]


def test_given_the_template_then_the_bare_pipeline_has_a_handler_for_every_function() -> None:
    # Given every function the baseline's template declares
    from devkit.bench.baseline import BARE_HANDLERS, bare_template

    handlers = {
        resource["Properties"]["Handler"].split(".")[0]
        for resource in bare_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # Then the baseline deploys a bare module for each (a missing one would fail, and be retried, under load)
    assert handlers == {path.stem for path in BARE_HANDLERS.glob("*.py")}
