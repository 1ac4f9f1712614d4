"""Memory of a process and everything it started (the engine and its Lambda workers), read from /proc."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _fields_after_name(stat_line: str) -> list[str]:
    # The command name may hold spaces and parentheses; it ends at the last ")".
    return stat_line[stat_line.rindex(")") + 2 :].split()


def parent_of(stat_line: str) -> int:
    """The parent PID in a /proc/<pid>/stat line."""
    return int(_fields_after_name(stat_line)[1])


def cpu_ticks_of(stat_line: str) -> int:
    """User + system CPU time (clock ticks) in a /proc/<pid>/stat line, its waited-for children included."""
    fields = _fields_after_name(stat_line)
    return sum(int(value) for value in fields[11:15])


def busy_ticks(proc_stat: str) -> int:
    """CPU ticks spent on anything but idle and I/O wait, all CPUs, from /proc/stat."""
    values = [int(value) for value in proc_stat.splitlines()[0].split()[1:]]
    return sum(values) - values[3] - (values[4] if len(values) > 4 else 0)


def descendants(root: int, parents: Mapping[int, int]) -> set[int]:
    """`root` and every process below it, given each process's parent."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found = {root}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _read_stats(proc: Path) -> dict[int, str]:
    stats = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
    return stats


def _resident_bytes(proc: Path, pid: int) -> int:
    try:
        return int((proc / str(pid) / "statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class TreeMemory:
    total_bytes: int
    root_bytes: int
    processes: int
    cpu_ticks: int = 0
    root_cpu_ticks: int = 0


def tree_memory(root: int, proc: Path = PROC) -> TreeMemory:
    """Resident memory of `root` and its descendants now (RSS summed: shared library pages count once per
    process, so this errs high), and the CPU time they have used."""
    stats = _read_stats(proc)
    parents = {}
    for pid, line in stats.items():
        with contextlib.suppress(ValueError, IndexError):
            parents[pid] = parent_of(line)
    pids = descendants(root, parents)
    sizes = {pid: _resident_bytes(proc, pid) for pid in pids}
    alive = {pid: size for pid, size in sizes.items() if size}
    ticks = 0
    for pid in pids:
        with contextlib.suppress(ValueError, IndexError, KeyError):
            ticks += cpu_ticks_of(stats[pid])
    root_ticks = 0
    with contextlib.suppress(ValueError, IndexError, KeyError):
        root_ticks = cpu_ticks_of(stats[root])
    return TreeMemory(sum(alive.values()), sizes.get(root, 0), len(alive), ticks, root_ticks)


def cpu_seconds(root: int, proc: Path = PROC) -> tuple[float, float]:
    """CPU-seconds used so far by (`root` alone, `root` with its live descendants)."""
    tree = tree_memory(root, proc)
    return tree.root_cpu_ticks / _TICKS, tree.cpu_ticks / _TICKS


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

    def __init__(self, root: int, *, interval: float = 0.2, proc: Path = PROC) -> None:
        self.root = root
        self.interval = interval
        self.proc = proc
        self.peak = TreeMemory(0, 0, 0)
        self.at_start = TreeMemory(0, 0, 0)
        self.peak_processes = 0
        self.samples = 0
        self.cpu: CpuUse | None = None
        self._started: tuple[float, int, float, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def __enter__(self) -> PeakMemorySampler:
        self.at_start = tree_memory(self.root, self.proc)
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
                seconds=wall,
                engine=engine / _TICKS,
                client=client,
                other=max(0.0, busy / _TICKS - engine / _TICKS - client),
            )

    def _cpu_now(self) -> tuple[float, int, float, int]:
        """(wall clock, machine busy ticks, this process's CPU seconds, engine tree's CPU ticks)."""
        try:
            busy = busy_ticks((self.proc / "stat").read_text())
        except (OSError, ValueError, IndexError):
            busy = 0
        own = os.times()
        # Ticks of workers that ended during the run are lost unless the engine waited for them (then they
        # count in its children's time): an estimate, reported as such.
        return time.monotonic(), busy, own.user + own.system, tree_memory(self.root, self.proc).cpu_ticks

    def sample(self) -> None:
        now = tree_memory(self.root, self.proc)
        self.samples += 1
        self.peak_processes = max(self.peak_processes, now.processes)
        if now.total_bytes > self.peak.total_bytes:
            self.peak = now

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
