"""What a benchmark or soak run found, as a table for people and as JSON for the README and for comparisons."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from devkit.bench.processes import CpuUse
from devkit.bench.stats import Distribution, WriteAccounting, percentile
from devkit.core.project import ROOT

MIB = 1024 * 1024
# Ignored by git: results are machine-specific; the README quotes the figures that matter.
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Target:
    """A figure with a goal to meet (on a 2-core machine, embedded engine)."""

    name: str
    limit: float
    unit: str
    at_most: bool  # True: the figure must stay at or below `limit`; False: at or above it
    measured: float | None

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit


@dataclass(frozen=True)
class Memory:
    peak_bytes: int
    engine_bytes_at_peak: int
    processes_at_peak: int
    most_processes: int
    samples: int
    # Before the run: MiniStack keeps every invocation's log lines in memory, so a long-lived engine starts big.
    engine_bytes_at_start: int = 0
    bytes_at_start: int = 0


@dataclass(frozen=True)
class Floor:
    messages: int
    failures: int
    concurrency: int
    seconds: float
    per_second: float | None


@dataclass(frozen=True)
class FirstWrite:
    """The first write after a restart of the engine and `invoke up`'s warm-up, against the warm writes after it."""

    first_post_ms: float
    first_lag_ms: float
    warm_lag_p50_ms: float | None
    warm_lags_ms: tuple[float, ...]
    warm_up_seconds: Mapping[str, float]

    @property
    def ratio(self) -> float | None:
        return self.first_lag_ms / self.warm_lag_p50_ms if self.warm_lag_p50_ms else None


@dataclass(frozen=True)
class Baseline:
    """Alternating rounds of the same load on this stack and on the bare pipeline (same template, bare handlers)."""

    writes_per_round: int
    ours_per_second: tuple[float, ...]
    bare_per_second: tuple[float, ...]
    # Per round: which pipeline, writes accepted, seconds, and the POST statuses seen.
    rounds: tuple[Mapping[str, Any], ...] = ()

    @property
    def ratio(self) -> float | None:
        ours, bare = sum(self.ours_per_second), sum(self.bare_per_second)
        return ours / bare if bare else None


@dataclass(frozen=True)
class EngineFigures:
    """What the benchmark measures beside the load: cold starts, the first write, idle memory and how fast it comes back,
    the bare baseline, and where the engine's event loop spends its CPU."""

    cold_starts_ms: Mapping[str, tuple[float, ...]]
    idle_bytes: int | None = None
    idle_processes: int | None = None
    back_to_idle_seconds: float | None = None
    first_write: FirstWrite | None = None
    baseline: Baseline | None = None
    profile: str | None = None
    lag_sample: float = 1.0
    lag_sampled: int = 0
    # Periodic saves during the load (MiniStack): how many, and the event loop's time spent taking the state.
    saves: int | None = None
    save_loop_seconds: float | None = None


@dataclass(frozen=True)
class Report:
    kind: str  # "bench" or "soak"
    command: str
    started_at: str
    machine: Mapping[str, Any]
    subject: Mapping[str, Any]  # engine, stage, API URL
    settings: Mapping[str, Any]
    post: Distribution
    get: Distribution
    lag: Distribution
    post_statuses: Mapping[str, int]
    get_statuses: Mapping[str, int]
    accepted: int
    sending_seconds: float
    accepted_per_second: float | None
    writes: WriteAccounting | None
    memory: Memory | None
    floor: Floor | None
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = field(default=())
    cpu: CpuUse | None = None
    engine_figures: EngineFigures | None = None
    # Every latency and lag measured, in ms, so a figure can be recomputed from the JSON.
    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """A soak passes when nothing was lost or duplicated; a benchmark when nothing was lost."""
        if self.writes is None:
            return False
        return self.writes.clean if self.kind == "soak" else self.writes.lost == 0


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _total_memory_mb(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "ministack": _version("ministack"),
        "boto3": _version("boto3"),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    # No /proc/cpuinfo (macOS has none): the processor name the platform reports, else the architecture.
    return platform.processor() or platform.machine() or None


def _total_memory_mb() -> int:
    return int(psutil.virtual_memory().total // MIB)


def targets_for(
    post: Distribution, lag: Distribution, accepted_per_second: float | None, memory: Memory | None
) -> tuple[Target, ...]:
    return (
        Target("POST p50", 15, "ms", True, post.p50),
        Target("accepted-to-readable p95", 60, "ms", True, lag.p95),
        Target("accepted writes/s", 300, "/s", False, accepted_per_second),
        Target("peak RSS", 600, "MB", True, None if memory is None else memory.peak_bytes / MIB),
    )


def engine_targets(figures: EngineFigures) -> tuple[Target, ...]:
    """The engine's targets; a figure the run did not measure is listed as not measured, never as met."""
    first = figures.first_write
    targets = [
        Target("first write lag / warm write lag", 2, "x", True, None if first is None else first.ratio),
        *(
            Target(f"{handler} import + init (median)", 250, "ms", True, percentile(runs, 50))
            for handler, runs in figures.cold_starts_ms.items()
        ),
        Target(
            "throughput / bare pipeline",
            0.9,
            "x",
            False,
            None if figures.baseline is None else figures.baseline.ratio,
        ),
        Target(
            "idle RSS before the run",
            300,
            "MB",
            True,
            None if figures.idle_bytes is None else figures.idle_bytes / MIB,
        ),
        Target("back to idle after the burst", 15, "s", True, figures.back_to_idle_seconds),
    ]
    return tuple(targets)


def to_json(report: Report) -> dict[str, Any]:
    document = dataclasses.asdict(report)
    document["targets"] = [{**dataclasses.asdict(target), "met": target.met} for target in report.targets]
    document["passed"] = report.passed
    if report.engine_figures is not None:
        figures = report.engine_figures
        document["engine_figures"]["first_write_ratio"] = (
            None if figures.first_write is None else figures.first_write.ratio
        )
        document["engine_figures"]["baseline_ratio"] = (
            None if figures.baseline is None else figures.baseline.ratio
        )
    if report.memory is not None:
        document["memory"]["peak_mb"] = round(report.memory.peak_bytes / MIB, 1)
        document["memory"]["engine_mb_at_peak"] = round(report.memory.engine_bytes_at_peak / MIB, 1)
    return document


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _statuses(statuses: Mapping[str, int]) -> str:
    return ", ".join(f"{code} x{count}" for code, count in sorted(statuses.items())) or "none"


def format_report(report: Report) -> str:
    machine = report.machine
    subject = report.subject
    settings = report.settings
    lines = [
        f"{'Soak' if report.kind == 'soak' else 'Benchmark'}: {settings.get('requests')} writes at concurrency "
        f"{settings.get('concurrency')}{f', paced at {rate:g}/s' if (rate := settings.get('rate')) else ''} "
        f"on {subject.get('engine')} (stage {subject.get('stage')})",
        f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model') or 'unknown CPU'}), "
        f"Python {machine.get('python')}, MiniStack {machine.get('ministack') or '-'}",
        "",
        f"{'':26}{'count':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  ms",
    ]
    for label, distribution in (
        ("POST latency", report.post),
        ("GET latency", report.get),
        ("accepted-to-readable", report.lag),
    ):
        if distribution.count:
            lines.append(
                f"{label:26}{distribution.count:>8}{_ms(distribution.p50):>9}{_ms(distribution.p95):>9}"
                f"{_ms(distribution.p99):>9}{_ms(distribution.max):>9}"
            )
    lines.append("")
    lines.append(
        f"{'Accepted writes/s':36}{_number(report.accepted_per_second, 1):>10}  "
        f"({report.accepted} accepted in {report.sending_seconds:.1f} s)"
    )
    if report.floor is not None:
        floor = report.floor
        lines.append(
            f"{'Raw SQS SendMessage floor':36}{_number(floor.per_second, 1):>10}  msg/s "
            f"({floor.messages} messages, {floor.concurrency} threads"
            f"{f', {floor.failures} failed' if floor.failures else ''})"
        )
    if report.memory is not None:
        memory = report.memory
        lines.append(
            f"{'Peak RSS, engine + workers':36}{memory.peak_bytes / MIB:>10.0f}  MB "
            f"(engine {memory.engine_bytes_at_peak / MIB:.0f} MB, {memory.processes_at_peak} processes; "
            f"most processes {memory.most_processes}; before the run {memory.bytes_at_start / MIB:.0f} MB, "
            f"engine {memory.engine_bytes_at_start / MIB:.0f} MB)"
        )
    if report.cpu is not None:
        cpu = report.cpu
        lines.append(
            f"{'CPU-seconds over the run':36}engine + workers {cpu.engine:.1f}, load generator {cpu.client:.1f}, "
            f"other processes {cpu.other:.1f} (of {cpu.seconds * (report.machine.get('cpus') or 1):.1f} "
            f"in {cpu.seconds:.1f} s)"
        )
    lines.append(f"{'POST statuses':36}{_statuses(report.post_statuses)}")
    if report.get_statuses:
        lines.append(f"{'GET statuses':36}{_statuses(report.get_statuses)}")
    if report.writes is not None:
        writes = report.writes
        lines.append(
            f"{'Writes':36}accepted {writes.accepted}, in table {writes.in_table}, in DLQ {writes.in_dlq} "
            f"(both {writes.in_both}), lost {writes.lost}, duplicated {writes.duplicated}, "
            f"unacknowledged {writes.unacknowledged}"
        )
        if writes.lost_keys:
            lines.append(f"{'  lost, e.g.':36}{', '.join(writes.lost_keys[:5])}")
        if writes.duplicated_keys:
            lines.append(f"{'  duplicated, e.g.':36}{', '.join(writes.duplicated_keys[:5])}")
    if report.engine_figures is not None:
        lines += ["", *_engine_lines(report.engine_figures)]
    if report.targets:
        lines += ["", f"{'Target':40}{'goal':>14}{'measured':>12}"]
        for target in report.targets:
            goal = f"{'<=' if target.at_most else '>='} {target.limit:g} {target.unit}"
            verdict = {True: "met", False: "MISSED", None: "not measured"}[target.met]
            lines.append(f"{target.name:40}{goal:>14}{_number(target.measured, 2):>12}  {verdict}")
    if report.notes:
        lines += ["", *report.notes]
    lines += ["", *_verdict(report)]
    return "\n".join(lines)


def _verdict(report: Report) -> list[str]:
    """Each target met or missed by name, and the write accounting; never one word for the whole run."""
    met = [target.name for target in report.targets if target.met is True]
    missed = [target.name for target in report.targets if target.met is False]
    unmeasured = [target.name for target in report.targets if target.met is None]
    lines = []
    if report.targets:
        lines.append(
            f"Targets met: {len(met)} of {len(report.targets)}" + (f" ({', '.join(met)})" if met else "")
        )
        lines.append(f"Targets MISSED: {len(missed)}" + (f" ({', '.join(missed)})" if missed else ""))
        if unmeasured:
            lines.append(f"Not measured in this run: {', '.join(unmeasured)}")
    if report.writes is None:
        lines.append("Writes: not accounted for.")
    elif report.passed:
        lines.append(
            "Writes: every accepted write accounted for (none lost"
            + (", none duplicated)." if report.kind == "soak" else ").")
        )
    else:
        lines.append(f"Writes: FAILED - {report.writes.lost} lost, {report.writes.duplicated} duplicated.")
    return lines


def _engine_lines(figures: EngineFigures) -> list[str]:
    lines = []
    for handler, runs in figures.cold_starts_ms.items():
        lines.append(
            f"{f'{handler} import + init':36}{_number(percentile(runs, 50), 0):>10}  ms median "
            f"(runs: {', '.join(f'{run:.0f}' for run in runs)}; a fresh interpreter of this environment)"
        )
    if figures.first_write is not None:
        first = figures.first_write
        warm = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in first.warm_up_seconds.items())
        lines.append(
            f"{'First write after up: lag':36}{first.first_lag_ms:>10.0f}  ms (POST {first.first_post_ms:.0f} ms); "
            f"warm writes' lag p50 {_number(first.warm_lag_p50_ms, 0)} ms; ratio {_number(first.ratio, 2)}"
        )
        lines.append(f"{'  warm-up by up (cold starts)':36}{warm}")
    if figures.idle_bytes is not None:
        lines.append(
            f"{'Idle before the run':36}{figures.idle_bytes / MIB:>10.0f}  MB ({figures.idle_processes} processes)"
        )
    lines.append(
        f"{'Back to idle after the burst':36}{_number(figures.back_to_idle_seconds, 1):>10}  s "
        "(from the queue drained until the burst's surplus workers were reaped)"
    )
    if figures.saves is not None and figures.save_loop_seconds is not None:
        lines.append(
            f"{'Periodic saves during the load':36}{figures.saves:>10}  saves, {figures.save_loop_seconds:.2f} s of "
            "the engine's event loop taking the state"
        )
    if figures.baseline is not None:
        base = figures.baseline
        lines.append(
            f"{'This stack / bare pipeline':36}{_number(base.ratio, 2):>10}  x (alternating rounds of "
            f"{base.writes_per_round} writes; ours {', '.join(f'{r:.0f}' for r in base.ours_per_second)}/s, "
            f"bare {', '.join(f'{r:.0f}' for r in base.bare_per_second)}/s)"
        )
    lines.append(
        f"{'Lag measured on':36}{figures.lag_sampled:>10}  writes (a random {figures.lag_sample:.0%} of the "
        "accepted ones, each polled until readable)"
    )
    if figures.profile:
        lines += [
            "",
            "Where the engine's event-loop thread spent its CPU during the load (cProfile, by own time):",
        ]
        lines += [f"  {line}" for line in figures.profile.strip().splitlines()]
    return lines


def save_json(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(report), indent=2, sort_keys=True) + "\n")
    return path


def default_json_path(kind: str) -> Path:
    return RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
