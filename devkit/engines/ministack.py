"""MiniStack, the default engine: an emulator in this project's own environment, run as a child process.

It runs each Lambda as a subprocess of the same interpreter, so the handlers get this environment's packages.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from devkit.engines import EngineStatus
from devkit.engines.emulator import Emulator
from devkit.project import EMULATOR_ACCESS_KEY, EMULATOR_REGION, LOCAL, ToolingError
from devkit.waiting import DeadlineExceeded, wait_for

DEFAULT_PORT = 4566
# Only what the stack uses: fewer services load faster and hold less memory.
SERVICES = "cloudformation,lambda,apigateway,sqs,dynamodb,s3,iam,sts,logs,cloudwatch,sns,acm,route53"
START_TIMEOUT = 20.0
# MiniStack saves its state only on a clean shutdown; give it time before forcing.
STOP_TIMEOUT = 20.0


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _engine_process(pid: int) -> psutil.Process | None:
    """The live MiniStack process with this PID, or None (gone, a zombie, or a PID reused by another program).
    psutil answers the same on Linux and macOS."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        command_line = process.cmdline()
    except psutil.Error:
        return None
    return process if any("ministack" in part for part in command_line) else None


@dataclass
class MiniStack(Emulator):
    state_dir: Path = LOCAL / "ministack"
    name: str = "ministack"
    bundles_dependencies: bool = False

    @classmethod
    def create(cls, *, port: int | None = None, state_dir: Path | None = None) -> MiniStack:
        """An engine at `port`, or the port the last `up` recorded in `state_dir`, or the default."""
        folder = state_dir or LOCAL / "ministack"
        recorded = cls._read_record(folder)
        return cls(port=port or int(recorded.get("port", DEFAULT_PORT)), state_dir=folder)

    # The record of the process we started: the only process `stop` will ever signal.
    @property
    def _record_file(self) -> Path:
        return self.state_dir / "engine.json"

    @staticmethod
    def _read_record(folder: Path) -> dict[str, int]:
        try:
            record: dict[str, int] = json.loads((folder / "engine.json").read_text())
            return record
        except (OSError, ValueError):
            return {}

    def _our_process(self) -> psutil.Process | None:
        pid = self._read_record(self.state_dir).get("pid")
        return _engine_process(pid) if pid else None

    def _our_pid(self) -> int | None:
        process = self._our_process()
        return process.pid if process else None

    def _remember(self, pid: int | None = None) -> None:
        """Record the port (kept after `down`, so the next `up` comes back on it) and the running engine's PID."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        record = {"port": self.port, **({"pid": pid} if pid else {})}
        self._record_file.write_text(json.dumps(record))

    def pid(self) -> int | None:
        """The engine process this project started, while it runs (the benchmark samples its memory)."""
        return self._our_pid()

    def log_file(self) -> Path:
        return self.state_dir / "ministack.log"

    def is_ready(self) -> bool:
        return self.answers("/_ministack/health") is not None

    def start(self, *, fresh: bool = False) -> None:
        pid = self._our_pid()
        if pid and not fresh:
            if self.is_ready():
                return
            raise ToolingError(
                f"MiniStack (PID {pid}) is running but not answering on port {self.port}. "
                f"Run `invoke down` and `invoke up` again; its log is {self.log_file()}."
            )
        if pid:
            self.stop(purge=True)
        elif fresh:
            self._purge()
        if not port_is_free(self.port):
            raise ToolingError(
                f"Port {self.port} is already in use by a process this project did not start "
                "(another MiniStack or LocalStack?). Stop it, or pick another port: `invoke up --port 4567`."
            )
        self._spawn()

    def _spawn(self) -> None:
        state = self.state_dir / "state"
        state.mkdir(parents=True, exist_ok=True)
        # Never hand real credentials to an emulator: MiniStack treats the key it was started with as the root.
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(
            GATEWAY_PORT=str(self.port),
            BIND_HOST="127.0.0.1",
            MINISTACK_HOST="127.0.0.1",
            MINISTACK_REGION=EMULATOR_REGION,
            AUTH="true",
            PERSIST_STATE="1",
            STATE_DIR=str(state),
            S3_PERSIST="1",
            S3_DATA_DIR=str(self.state_dir / "s3"),
            SERVICES=SERVICES,
            IOT_MTLS_ENABLED="0",
            SFTP_ENABLED="0",
            LOG_LEVEL="WARNING",
            # A burst of N concurrent requests leaves N warm workers (~50 MB each) behind; MiniStack reaps the idle
            # surplus (never a function's first worker) after this long instead of its default 300 s (measured:
            # 1.45 GB -> 0.32 GB some 75 s after a 16-client benchmark, instead of ~5 min).
            LAMBDA_WARM_TTL_SECONDS="60",
            AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=EMULATOR_ACCESS_KEY,
            AWS_DEFAULT_REGION=EMULATOR_REGION,
            TMPDIR=str(self.state_dir),
        )
        with self.log_file().open("a") as log:
            log.write(f"\n--- started {time.strftime('%Y-%m-%d %H:%M:%S')} on 127.0.0.1:{self.port}\n")
            log.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", "ministack"],
                cwd=self.state_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal that ran `up` must not kill the engine.
            )
        self._remember(process.pid)
        try:
            wait_for(
                lambda: process.poll() is not None or self.is_ready(),
                timeout=START_TIMEOUT,
                interval=0.05,
                what="MiniStack to start",
            )
        except DeadlineExceeded:
            self._terminate(psutil.Process(process.pid), force=True)
            raise ToolingError(
                f"MiniStack did not start within {START_TIMEOUT:.0f} s; see {self.log_file()}."
            ) from None
        if process.poll() is not None:
            self._remember()
            raise ToolingError(
                f"MiniStack exited at start (code {process.returncode}); see {self.log_file()}."
            )

    def stop(self, *, purge: bool = False, force: bool = False) -> None:
        """Stop the engine with SIGTERM and wait while it saves. Only `purge` (its state is dropped anyway) or
        `force` (the user chose to lose unsaved changes) kills it when it does not stop in time."""
        process = self._our_process()
        if process:
            self._terminate(process, force=force or purge)
        self._remember()
        # Each Lambda worker that crashed or was killed leaves its scratch folder in TMPDIR; none is in use now.
        for scratch in self.state_dir.glob("ministack-lambda-*"):
            shutil.rmtree(scratch, ignore_errors=True)
        if purge:
            self._purge()

    def _terminate(self, process: psutil.Process, *, force: bool) -> None:
        try:
            workers = process.children(recursive=True)
            process.terminate()
            process.wait(timeout=STOP_TIMEOUT)  # reaps it too when it is our child (the test task's engine)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            if not force:
                raise ToolingError(
                    f"MiniStack (PID {process.pid}) is still running {STOP_TIMEOUT:.0f} s after being asked to "
                    f"stop; it may still be saving its state. Wait and run `invoke down` again, or "
                    f"`invoke down --force` to kill it (changes since its last save are lost). Log: {self.log_file()}"
                ) from None
            for member in [process, *workers]:
                with contextlib.suppress(psutil.Error):
                    member.kill()
            psutil.wait_procs([process, *workers], timeout=5)

    def _purge(self) -> None:
        for part in ("state", "s3"):
            shutil.rmtree(self.state_dir / part, ignore_errors=True)

    def status(self) -> EngineStatus:
        pid = self._our_pid()
        if pid is None:
            return EngineStatus(self.name, False, None, f"not running (state kept in {self.state_dir})")
        ready = self.is_ready()
        return EngineStatus(
            self.name,
            ready,
            self.endpoint_url(),
            f"PID {pid}, port {self.port}, {'ready' if ready else 'NOT answering'}, log {self.log_file()}",
        )

    def after_deploy(self, stack_name: str) -> None:
        from devkit.engines.ministack_gaps import add_cors_to_preflight, fix_event_source_scaling

        add_cors_to_preflight(self, stack_name)
        fix_event_source_scaling(self, stack_name)
