"""MiniStack, the default engine: an emulator in this project's own environment, run as a child process.

It runs each Lambda function in a worker subprocess; the launcher makes that the interpreter of the function's
runtime with only the handlers' locked dependency set and code on its import path (see devkit.core.runtime).
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
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from devkit.core.project import EMULATOR_ACCESS_KEY, EMULATOR_REGION, LOCAL, ToolingError
from devkit.core.runtime import template_runtimes, worker_runtime
from devkit.core.waiting import DeadlineExceeded, wait_for
from devkit.engines import EngineStatus
from devkit.engines.emulator import Emulator, check_stack_intact, stack_statuses
from devkit.engines.ministack import state as ministack_state
from devkit.engines.ministack.launcher import FINAL_SAVE_FAILED

DEFAULT_PORT = 4566
# Only what the stack uses: fewer services load faster and hold less memory.
SERVICES = (
    "cloudformation,lambda,apigateway,apigatewayv2,sqs,dynamodb,dynamodbstreams,s3,iam,sts,logs,cloudwatch,sns,kms"
    ",acm,route53,cognito-idp,events"
)
START_TIMEOUT = 20.0
# The engine saves on the way out; `down` waits this long, then says so (and kills it only when told to).
STOP_TIMEOUT = 20.0
SAVE_TIMEOUT = 60.0
# The launcher saves the state this often while requests change it (a killed engine loses at most about this
# much plus one save's duration), and reaps idle surplus Lambda workers this long after their last use.
SAVE_INTERVAL = 2.0
WARM_TTL_SECONDS = 10
LAUNCHER = Path(__file__).with_name("launcher.py")
# How the engine's command line names the launcher wherever the checkout is (a moved checkout keeps its engine).
_LAUNCHER_TAIL = f"{LAUNCHER.parent.name}/{LAUNCHER.name}"
# Run by path, not `-m devkit...`: the engine process then imports neither devkit nor the project root.
_LAUNCH = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
CONTROL = "/_devkit/"
# Why the debug sessions ended, as their `invoke debug` reads it.
STOPPING = "the engine stopping"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _engine_process(pid: int) -> psutil.Process | None:
    """The live MiniStack process with this PID, or None (gone, a zombie, or a PID reused by another program:
    only a process running our launcher counts, not any command line that mentions MiniStack, such as a test run
    naming a test file). psutil answers the same on Linux and macOS."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        command_line = process.cmdline()
    except psutil.Error:
        return None
    return process if any(part.endswith(_LAUNCHER_TAIL) for part in command_line) else None


def _when(epoch: object) -> str:
    if not isinstance(epoch, (int, float)):
        return "never"
    return f"{time.strftime('%H:%M:%S', time.localtime(epoch))}, {time.time() - epoch:.0f} s ago"


def _has_exited(process: psutil.Process) -> bool:
    """Gone, or a zombie: the engine a test's own `invoke test` started stays a zombie until that parent reaps it,
    so a stop from another process (the restart test) must not wait for it to vanish."""
    try:
        process.wait(timeout=0)  # reaps it when it is our child
        return True
    except psutil.TimeoutExpired:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    except psutil.NoSuchProcess:
        return True


@dataclass
class MiniStack(Emulator):
    state_dir: Path = LOCAL / "ministack"
    name: str = "ministack"
    bundles_dependencies: bool = False
    # Set by `start(restore=True)`: (the backup put back, where the replaced state was moved).
    restored: tuple[Path, Path | None] | None = None
    # Set by `start`: the port the saved state was moved from, when it was saved on another one.
    moved_from: int | None = None

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

    def start(self, *, fresh: bool = False, restore: bool = False) -> None:
        """Start the engine unless it runs; `restore` first puts back the last good backup of its state. An engine
        of ours running on another port is stopped (it saves) and started again on this one, its state moved."""
        process = self._our_process()
        running_port = self._running_port()
        runtimes = self._worker_runtimes()
        if process and running_port == self.port and not (fresh or restore):
            if self.is_ready():
                # The lock may have changed since it started: its next workers take the current set.
                self.use_worker_runtimes(runtimes)
                return
            raise ToolingError(
                f"MiniStack (PID {process.pid}) is running but not answering on port {self.port}. "
                f"Run `invoke down` and `invoke up` again; its log is {self.log_file()}."
            )
        # Before anything is stopped or changed: a busy port leaves the running engine and its state as they are.
        self.check_port_free()
        if process:
            MiniStack(port=running_port or self.port, state_dir=self.state_dir).stop(purge=fresh)
        elif fresh:
            self._purge()
        if restore:
            self.restored = ministack_state.restore_latest(self.state_dir)
        self._check_state_files()
        state = self.state_dir / "state"
        if ministack_state.state_files(state) and ministack_state.saved_port(state) is None:
            # Saved before the state carried its port: the one the engine last ran on, which each backup keeps.
            ministack_state.mark_port(state, self._read_record(self.state_dir).get("port", self.port))
        pending_backup = ministack_state.take_backup(self.state_dir)
        # After the backup, which keeps the state exactly as the engine saved it.
        from devkit.engines.ministack.gaps import forget_stream_positions

        forget_stream_positions(self.state_dir / "state")
        self._follow_port()
        self._spawn(runtimes)
        try:
            self._check_stacks()
        except ToolingError:
            self.stop()
            raise
        ministack_state.confirm_backup(self.state_dir, pending_backup)

    def _running_port(self) -> int | None:
        """The port our running engine serves on; None when none runs."""
        return self._read_record(self.state_dir).get("port", self.port) if self._our_process() else None

    def check_port_free(self) -> None:
        """Unless our own engine serves on it, the port must be free; the error says what to do."""
        if self._running_port() != self.port and not port_is_free(self.port):
            raise ToolingError(
                f"Port {self.port} is already in use by a process this project did not start "
                "(another MiniStack or LocalStack?). Stop it, or pick another port: `invoke up --port 4567`."
            )

    def _follow_port(self) -> None:
        """Saved on another port, the state's URLs are moved to this one (see `gaps.move_engine_urls`)."""
        from devkit.engines.ministack.gaps import move_engine_urls

        state = self.state_dir / "state"
        saved = ministack_state.saved_port(state)
        self.moved_from = None
        if saved and saved != self.port and ministack_state.state_files(state):
            move_engine_urls(state, saved, self.port)
            self.moved_from = saved
        ministack_state.mark_port(state, self.port)

    def _check_state_files(self) -> None:
        state = self.state_dir / "state"
        problems = ministack_state.damaged_files(state)
        if not problems:
            return
        kept = ministack_state.backups(self.state_dir)
        remedy = (
            f"`invoke up --restore` puts back the last good backup, taken {ministack_state.describe_backup(kept[0])}"
            if kept
            else "there is no backup yet"
        )
        raise ToolingError(
            f"MiniStack's saved state in {state} is damaged, so the engine would start without part of it and "
            f"then overwrite it: {'; '.join(problems)}. {remedy}; `invoke up --fresh` starts empty "
            "(local data is lost)."
        )

    def _check_stacks(self) -> None:
        """Every stack the engine restored has its table, queues and functions (a state file can go missing)."""
        for name, status in stack_statuses(self):
            if status.endswith("_COMPLETE") and status != "DELETE_COMPLETE":
                check_stack_intact(self, name)

    @staticmethod
    def _worker_runtimes() -> dict[str, dict[str, str]]:
        """Each runtime of the template's functions, prepared (built once per lock) for the launcher."""
        return {runtime: worker_runtime(runtime).as_json() for runtime in sorted(template_runtimes())}

    def use_worker_runtimes(self, runtimes: dict[str, dict[str, str]]) -> None:
        """The running engine's next workers of each runtime run on these (`WorkerRuntime.as_json`); its idle
        workers go when they change."""
        self._control("POST", "workers", body={"runtimes": runtimes})

    def _spawn(self, runtimes: dict[str, dict[str, str]]) -> None:
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
            # A burst of N concurrent requests leaves N warm workers (~50 MB each) behind; the idle surplus (never
            # a function's first worker) is reaped this long after its last use (MiniStack's default: 300 s, and
            # its reaper looks every 30 s; the launcher looks every 2 s).
            LAMBDA_WARM_TTL_SECONDS=str(WARM_TTL_SECONDS),
            DEVKIT_SAVE_INTERVAL=str(SAVE_INTERVAL),
            AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=EMULATOR_ACCESS_KEY,
            AWS_DEFAULT_REGION=EMULATOR_REGION,
            TMPDIR=str(self.state_dir),
            DEVKIT_WORKER_RUNTIMES=json.dumps(runtimes),
        )
        with self.log_file().open("a") as log:
            log.write(f"\n--- started {time.strftime('%Y-%m-%d %H:%M:%S')} on 127.0.0.1:{self.port}\n")
            log.flush()
            process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, str(LAUNCHER)],
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
        """Save, then stop the engine with SIGTERM and wait while it saves again on its way out. A failed save
        leaves it running (the data is only in its memory) with a ToolingError. Only `purge` (its state is dropped
        anyway) or `force` (the user chose to lose unsaved changes) kills an engine that does not stop in time."""
        process = self._our_process()
        if process:
            self._end_debugging()
            careful = not (purge or force)
            if careful:
                self._save_before_stop()
            log_size = self.log_file().stat().st_size if self.log_file().exists() else 0
            self._terminate(process, force=not careful)
            if careful:
                self._check_final_save(log_size)
        self._remember()
        # Each Lambda worker that crashed or was killed leaves its scratch folder in TMPDIR; none is in use now.
        for scratch in self.state_dir.glob("ministack-lambda-*"):
            shutil.rmtree(scratch, ignore_errors=True)
        if purge:
            self._purge()

    def save(self) -> dict[str, Any]:
        """Ask the running engine to save its state now; its answer says whether every file was written."""
        return self._control("POST", "save", timeout=SAVE_TIMEOUT)

    def save_into(self, folder: Path) -> dict[str, Any]:
        """Ask the running engine to save, and to copy the saved state folder to `folder` (which must not exist)
        before any later save changes it; the answer says whether every file was written."""
        return self._control("POST", "snapshot", timeout=SAVE_TIMEOUT, body={"into": str(folder)})

    def debug_function(
        self,
        function_name: str,
        *,
        port: int,
        wait: bool,
        code_dir: Path,
        debugpy_path: Path,
        owner: int,
        label: str,
    ) -> None:
        """The function's next workers start under debugpy (imported from `debugpy_path`) on 127.0.0.1:`port`,
        running the code in `code_dir`, until the process `owner` ends the session or is gone."""
        body = {
            "function": function_name,
            "port": port,
            "wait": wait,
            "code_dir": str(code_dir),
            "debugpy_path": str(debugpy_path),
            "owner": owner,
            "label": label,
        }
        self._control("POST", "debug", body=body)

    def debug_sessions(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The functions under the debugger, by name (port, wait, owner: a PID, owner_alive, label, since), and
        how each one's last session ended (owner, reason)."""
        answer = self._control("GET", "debug")
        return answer.get("debugging", {}), answer.get("endings", {})

    def stop_debugging(self, function_name: str | None = None, *, reason: str) -> list[str]:
        """The function's (default: every function's) debugged workers are killed, failing the requests they
        hold, and its next workers start as usual again. Returns the functions that were under the debugger."""
        body = {"reason": reason, **({"function": function_name} if function_name else {})}
        ended: list[str] = self._control("DELETE", "debug", body=body).get("ended", [])
        return ended

    def save_status(self) -> dict[str, Any]:
        """How the launcher's saves went so far: last good save, errors, counts and time spent."""
        return self._control("GET", "save")

    def iam_decisions(self) -> dict[str, Any]:
        """Every IAM decision the engine made for a principal since it started or since `forget_iam_decisions`:
        `{"since": epoch, "calls": [{principal, action, resource, decision, count, first, last}, ...]}`."""
        return self._control("GET", "iam")

    def forget_iam_decisions(self) -> None:
        """Start the record of IAM decisions afresh (a report then covers only what runs after this)."""
        self._control("DELETE", "iam")

    def start_profile(self) -> None:
        """Profile the engine's event-loop thread (HTTP serving, the services) until `stop_profile`."""
        self._control("POST", "profile/start")

    def stop_profile(self) -> str:
        """The profile since `start_profile`, as a pstats summary by own time."""
        return str(self._control("POST", "profile/stop").get("profile", ""))

    def _control(
        self, method: str, route: str, *, timeout: float = 10.0, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A request to the launcher's /_devkit/ routes in the engine process."""
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(f"{self.endpoint_url()}{CONTROL}{route}", method=method, data=data)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                result: dict[str, Any] = json.load(reply)
                return result
        except urllib.error.HTTPError as error:
            if (
                error.code == 404
            ):  # a launcher without this route: the engine was started by an older checkout
                raise ToolingError(
                    f"The running MiniStack has no {CONTROL}{route}: restart it with `invoke down` and `invoke up`."
                ) from None
            raise ToolingError(
                f"MiniStack answered {method} {CONTROL}{route} with {error.code}; see {self.log_file()}."
            ) from None
        except (OSError, ValueError) as error:
            raise ToolingError(
                f"MiniStack did not answer {method} {CONTROL}{route} ({error}); see {self.log_file()}."
            ) from None

    def _end_debugging(self) -> None:
        """A request held by a debugged worker (at a breakpoint, or waiting for a debugger) fails now, with an
        answer, instead of keeping the engine from stopping."""
        with contextlib.suppress(
            ToolingError
        ):  # not answering: the launcher ends the sessions as it shuts down
            self.stop_debugging(reason=STOPPING)

    def _save_before_stop(self) -> None:
        try:
            result = self.save()
        except ToolingError:
            return  # not answering (hung, or started by an older devkit): it still saves on SIGTERM
        if not result.get("ok"):
            raise ToolingError(
                f"MiniStack could not save its state: {'; '.join(result.get('errors', []))}. It is still running, "
                f"with your data in its memory. Free space on the disk of {self.state_dir} and run `invoke down` "
                f"again; `invoke down --force` stops it anyway (the state on disk is from its last good save, "
                f"{_when(result.get('last_good_save'))})."
            )

    def _check_final_save(self, log_size: int) -> None:
        """The engine's shutdown save reports a failure only in its log (the launcher marks it)."""
        try:
            with self.log_file().open("rb") as log:
                log.seek(log_size)
                tail = log.read().decode(errors="replace")
        except OSError:
            return
        for line in tail.splitlines():
            if FINAL_SAVE_FAILED in line:
                raise ToolingError(
                    f"MiniStack stopped, but its final save failed ({line.strip()}); the state on disk is the one "
                    "saved just before `down` asked it to stop."
                )

    def _terminate(self, process: psutil.Process, *, force: bool) -> None:
        try:
            workers = process.children(recursive=True)
            process.terminate()
            wait_for(
                lambda: _has_exited(process), timeout=STOP_TIMEOUT, interval=0.05, what="MiniStack to stop"
            )
        except psutil.NoSuchProcess:
            return
        except DeadlineExceeded:
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
        from devkit.engines.ministack.gaps import add_cors_to_preflight, fix_event_source_scaling

        add_cors_to_preflight(self, stack_name)
        fix_event_source_scaling(self, stack_name)
