"""Memory and CPU time of a process and everything it started (the engine and its Lambda workers), through
psutil, so the same figures come out on Linux and macOS."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import psutil


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU time of a process, its waited-for children included (psutil gives those on Linux)."""
    times = process.cpu_times()
    return (
        times.user
        + times.system
        + getattr(times, "children_user", 0.0)
        + getattr(times, "children_system", 0.0)
    )


def busy_seconds() -> float:
    """CPU-seconds the whole machine spent on anything but idle and I/O wait, all CPUs together."""
    times = psutil.cpu_times()
    total: float = sum(times)
    return total - times.idle - getattr(times, "iowait", 0.0)


@dataclass(frozen=True)
class TreeMemory:
    total_bytes: int
    root_bytes: int
    processes: int
    cpu_seconds: float = 0.0
    root_cpu_seconds: float = 0.0


def tree_memory(root: int) -> TreeMemory:
    """Resident memory of `root` and its descendants now (RSS summed: shared library pages count once per
    process, so this errs high), and the CPU time they have used. A process that ends while we look is left out;
    an empty result when `root` itself is gone."""
    try:
        parent = psutil.Process(root)
        members = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return TreeMemory(0, 0, 0)
    total = root_bytes = processes = 0
    cpu = root_cpu = 0.0
    for member in members:
        with contextlib.suppress(psutil.Error):
            with member.oneshot():
                resident = member.memory_info().rss
                spent = _cpu_seconds(member)
            total += resident
            cpu += spent
            processes += 1
            if member.pid == root:
                root_bytes, root_cpu = resident, spent
    return TreeMemory(total, root_bytes, processes, cpu, root_cpu)


def cpu_seconds(root: int) -> tuple[float, float]:
    """CPU-seconds used so far by (`root` alone, `root` with its live descendants)."""
    tree = tree_memory(root)
    return tree.root_cpu_seconds, tree.cpu_seconds


@dataclass(frozen=True)
class CpuUse:
    """Where the machine's CPU went during a run, in CPU-seconds: the engine with its workers, this benchmark's
    own process (the load generator), and everything else on the machine (noise the figures carry)."""

    seconds: float
    engine: float
    client: float
    other: float


class PeakMemorySampler:
    """Samples a process tree's memory in a background thread and keeps the peak; use as a context manager."""

    def __init__(self, root: int, *, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak = TreeMemory(0, 0, 0)
        self.at_start = TreeMemory(0, 0, 0)
        self.peak_processes = 0
        self.samples = 0
        self.cpu: CpuUse | None = None
        self._started: tuple[float, float, float, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def __enter__(self) -> PeakMemorySampler:
        self.at_start = tree_memory(self.root)
        self._started = self._cpu_now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        if self._started is not None:
            wall, busy, client, engine = (
                end - start for end, start in zip(self._cpu_now(), self._started, strict=True)
            )
            self.cpu = CpuUse(
                seconds=wall, engine=engine, client=client, other=max(0.0, busy - engine - client)
            )

    def _cpu_now(self) -> tuple[float, float, float, float]:
        """(wall clock, machine busy seconds, this process's CPU seconds, engine tree's CPU seconds)."""
        own = psutil.Process().cpu_times()
        # Time of workers that ended during the run is lost unless the engine waited for them (then it counts in
        # its children's time): an estimate, reported as such.
        return time.monotonic(), busy_seconds(), own.user + own.system, tree_memory(self.root).cpu_seconds

    def sample(self) -> None:
        now = tree_memory(self.root)
        self.samples += 1
        self.peak_processes = max(self.peak_processes, now.processes)
        if now.total_bytes > self.peak.total_bytes:
            self.peak = now

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
