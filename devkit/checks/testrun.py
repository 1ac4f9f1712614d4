"""What `invoke test` runs after lint: the unit tests, the local-data fault tests, the end-to-end suite and the
browser tests, side by side, each job's output streamed as it comes (every line prefixed with the job's name) and
the first failure stopping the rest.

The end-to-end suites run on private MiniStacks, each with its own port and folder: a running `invoke up` engine,
or another `invoke test`, is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devkit.core import ui
from devkit.core.project import LOCAL, ToolingError

if TYPE_CHECKING:
    from devkit.engines.ministack import MiniStack

Show = Callable[[str], None]

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
# End-to-end tests that run on an engine of their own, beside the rest of the suite: they mostly wait (three
# visibility timeouts, an engine restart).
E2E_OWN_ENGINE = ("tests/e2e/test_dead_letters.py", "tests/e2e/test_notifications_restart.py")
# A stopped job gets SIGINT first, as from Ctrl-C, so pytest runs its teardown (its private engines stop); this
# long later it is killed.
STOP_GRACE_SECONDS = 30.0
# pytest's closing line ("==== 3 passed, 1 skipped in 0.52s ====", or without the rules under -q) and its counts.
_PYTEST_CLOSING = re.compile(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*) in [\d.]+s(?: \([\d:]+\))?\s*=*$")
_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?)\b")


class JobFailed(ToolingError):
    """A job exited with a non-zero code; its output was shown as it ran."""


@dataclass
class _Job:
    name: str
    command: list[str]
    process: subprocess.Popen[str]
    reader: threading.Thread = field(init=False)


class Jobs:
    """Commands run side by side; each output line is shown at once as `[name] line`, and a job that fails says so
    at once. `wait` returns when the named jobs succeeded and raises JobFailed at the first failure; `stop` ends
    every job still running (only the processes started here, by PID)."""

    def __init__(self, show: Show) -> None:
        self._show = show
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._failed: list[str] = []
        self._stopped: set[str] = set()
        # The tests counted by every job's pytest closing line: passed, failed, skipped, error.
        self.tally: Counter[str] = Counter()

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self._say(f"[{name}] started: {shlex.join(command)}")
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            # Unbuffered, or a Python job's lines would arrive in blocks of 8 KB.
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
        job = _Job(name, command, process)
        job.reader = threading.Thread(target=self._follow, args=(job,), name=f"job {name}", daemon=True)
        with self._lock:
            self._jobs[name] = job
        job.reader.start()

    def _say(self, line: str) -> None:
        with self._lock:
            self._show(line)

    def _follow(self, job: _Job) -> None:
        assert job.process.stdout is not None
        for line in job.process.stdout:
            self._say(f"[{job.name}] {line.rstrip()}")
            self._count(line.strip())
        code = job.process.wait()
        with self._lock:
            if code == 0:
                self._show(f"[{job.name}] passed.")
            elif job.name in self._stopped:
                self._show(f"[{job.name}] stopped.")
            else:
                self._failed.append(job.name)
                self._show(f"[{job.name}] FAILED (exit code {code}): {shlex.join(job.command)}")
            self._changed.notify_all()

    def _count(self, line: str) -> None:
        closing = _PYTEST_CLOSING.match(line)
        if closing is None:
            return
        with self._lock:
            for number, outcome in _PYTEST_COUNT.findall(closing.group(1)):
                self.tally[outcome.removesuffix("s") if outcome.startswith("error") else outcome] += int(
                    number
                )

    def check(self) -> None:
        """Raise JobFailed if a job has failed so far."""
        with self._lock:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._failed:
            raise JobFailed(f"{self._failed[0]} failed (its output is above, prefixed [{self._failed[0]}]).")

    def wait(self, *names: str) -> None:
        """Until the named jobs (all when none is named) have passed; JobFailed as soon as any job fails."""
        with self._lock:
            wanted = [self._jobs[name] for name in names] if names else list(self._jobs.values())
            while True:
                self._raise_if_failed()
                if all(job.process.poll() is not None and not job.reader.is_alive() for job in wanted):
                    return
                self._changed.wait(timeout=0.5)

    def stop(self) -> None:
        """Stop the jobs still running: SIGINT (pytest tears down), then a kill after STOP_GRACE_SECONDS."""
        with self._lock:
            running = [job for job in self._jobs.values() if job.process.poll() is None]
            self._stopped.update(job.name for job in running)
        for job in running:
            self._say(f"[{job.name}] stopping (PID {job.process.pid}).")
            with contextlib.suppress(ProcessLookupError):
                job.process.send_signal(signal.SIGINT)
        for job in running:
            try:
                job.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
        for job in self._jobs.values():
            job.reader.join(timeout=5)


@contextlib.contextmanager
def running_jobs(show: Show) -> Iterator[Jobs]:
    """Jobs that are all stopped on the way out, whatever happened."""
    jobs = Jobs(show)
    try:
        yield jobs
    finally:
        jobs.stop()


def _private_engine(label: str, engines: list[MiniStack], show: Show) -> str:
    """A fresh MiniStack on a free port with the dev stage deployed and warm; returns its outputs file."""
    from devkit.delivery.warm import deploy_and_warm
    from devkit.engines.ministack import MiniStack, free_port

    # The engine's folder is called `ministack` inside a folder of its own, as in the project's `.local`: a task
    # run with PURCHASE_LOCAL_DIR set to that folder (the suite's `invoke logs`, `invoke trace`) finds this engine
    # as its ministack target.
    folder = LOCAL / f"test-engine-{os.getpid()}-{label.replace(' ', '-')}"
    engine = MiniStack(port=free_port(), state_dir=folder / "ministack")
    shutil.rmtree(folder, ignore_errors=True)
    engine.state_dir.mkdir(parents=True)
    engines.append(engine)
    with ui.phase(f"Starting a private MiniStack on port {engine.port} for the {label} tests"):
        engine.start()
        values = deploy_and_warm(engine, "dev", progress=show)[1]
    path = engine.state_dir / "outputs.json"
    # The restart test stops and starts its engine, so it must know the engine's own folder.
    path.write_text(json.dumps({**values, "EngineStateDir": str(engine.state_dir)}, indent=2))
    return str(path)


def run_checks(show: Show) -> Counter[str]:
    """The unit, local-data, end-to-end and browser tests, side by side; JobFailed at the first failure. Returns
    the tests counted (passed, failed, skipped, error)."""
    from devkit.checks.browser import find_chromium

    engines: list[MiniStack] = []
    try:
        with running_jobs(show) as jobs:
            # Most of their time is spent waiting on engines: they run while the end-to-end engines start.
            jobs.start("unit tests", [*PYTEST, "tests/unit"])
            jobs.start("local-data fault tests", [*PYTEST, "tests/engine"])
            outputs_file = _private_engine("end-to-end", engines, show)
            jobs.check()
            slow_outputs_file = _private_engine("slow end-to-end", engines, show)
            jobs.check()
            jobs.start(
                "slow end-to-end tests", [*PYTEST, *E2E_OWN_ENGINE], {"E2E_OUTPUTS": slow_outputs_file}
            )
            ignored = [f"--ignore={path}" for path in E2E_OWN_ENGINE]
            jobs.start("end-to-end tests", [*PYTEST, "tests/e2e", *ignored], {"E2E_OUTPUTS": outputs_file})
            jobs.wait("end-to-end tests")
            chromium = find_chromium()
            if chromium is None:
                show(
                    "SKIPPED the browser tests: no Chromium found. Install one (`apt-get install chromium`) or set "
                    "CHROMIUM_PATH; CI (.ci/run) always installs it."
                )
            else:
                show(f"Browser tests in {chromium} (screenshots in {LOCAL / 'artifacts'}):")
                jobs.start("browser tests", [*PYTEST, "tests/browser"], {"E2E_OUTPUTS": outputs_file})
            jobs.wait()
            return jobs.tally
    finally:
        for engine in engines:
            engine.stop(purge=True)
            shutil.rmtree(engine.state_dir.parent, ignore_errors=True)
