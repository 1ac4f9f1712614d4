"""`invoke test`'s job runner: each job's lines are shown as they come, prefixed with its name, and the first
failure is reported at once and stops the other jobs. The jobs here are tiny Python commands."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from devkit.checks.testrun import JobFailed, running_jobs
from devkit.core.waiting import wait_for


class Screen:
    """The lines a runner showed, safe to read while it shows more."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def show(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def has(self, line: str) -> bool:
        with self._lock:
            return line in self.lines


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_jobs_lines_are_shown_while_it_runs_prefixed_with_its_name(tmp_path: Path) -> None:
    # Given a job that prints a line and then waits for a go-ahead file before it ends
    go_ahead = tmp_path / "go"
    waits = f"import pathlib, time\nprint('first line')\nwhile not pathlib.Path({str(go_ahead)!r}).exists(): time.sleep(0.05)\nprint('last line')"
    screen = Screen()
    with running_jobs(screen.show) as jobs:
        jobs.start("waiter", _python(waits))

        # When it has printed its first line, still running
        wait_for(lambda: screen.has("[waiter] first line"), timeout=30, what="the first line")

        # Then that line is already shown, before the job ends
        assert not screen.has("[waiter] last line")
        go_ahead.touch()
        jobs.wait()
    assert screen.lines[-2:] == ["[waiter] last line", "[waiter] passed."]


def test_the_first_failure_is_shown_at_once_and_stops_the_other_jobs() -> None:
    # Given a job that would run for a minute and one that fails at once
    screen = Screen()
    with pytest.raises(JobFailed, match="broken failed") as failed, running_jobs(screen.show) as jobs:
        jobs.start("long", _python("import time\nprint('working', flush=True)\ntime.sleep(60)"))
        wait_for(lambda: screen.has("[long] working"), timeout=30, what="the long job to start")
        jobs.start("broken", _python("import sys\nprint('boom')\nsys.exit(3)"))

        # When the runner waits for all of them
        jobs.wait()

    # Then the failure is reported with its output and exit code, and the long job was stopped
    assert "[broken] boom" in screen.lines
    assert any(line.startswith("[broken] FAILED (exit code 3)") for line in screen.lines)
    assert any(line.startswith("[long] stopping (PID ") for line in screen.lines)
    assert screen.lines[-1] == "[long] stopped."
    assert "prefixed [broken]" in str(failed.value)


def test_check_raises_once_a_job_has_failed() -> None:
    # Given a job that has failed
    screen = Screen()
    with running_jobs(screen.show) as jobs:
        jobs.start("broken", _python("raise SystemExit(1)"))
        wait_for(
            lambda: any(line.startswith("[broken] FAILED") for line in screen.lines),
            timeout=30,
            what="the failure",
        )

        # When the runner checks between its steps, then it raises
        with pytest.raises(JobFailed, match="broken failed"):
            jobs.check()


def test_the_tests_each_jobs_pytest_closing_line_counts_are_added_up() -> None:
    # Given two jobs ending as pytest does, with and without -q's rules, and a line that only looks alike
    screen = Screen()
    with running_jobs(screen.show) as jobs:
        jobs.start("one", _python("print('12 passed, 2 skipped, 3 warnings in 1.50s')"))
        jobs.start("two", _python("print('===== 1 failed, 4 passed, 1 error in 0.31s (0:00:00) =====')"))
        jobs.start("three", _python("print('copied 7 passed files in 2s, said the log')"))

        # When they have ended
        jobs.wait("one", "three")
        wait_for(lambda: jobs.tally["failed"] == 1, timeout=30, what="the second job's count")

    # Then the counts are the sum of the closing lines, and nothing else
    assert dict(jobs.tally) == {"passed": 16, "skipped": 2, "failed": 1, "error": 1}
