"""Runs MiniStack in this process exactly as `python -m ministack` does, plus three things the engine has no
setting for. Each calls the engine's own functions; nothing here emulates a service.

- Periodic saves: MiniStack saves its state only on a clean shutdown, so a killed engine (SIGKILL, OOM, a laptop
  crash) lost everything since it started. Every SAVE_INTERVAL seconds after a request changed something, the state
  is taken with each service's own `get_state` and written with the engine's `persistence.save_state`, which
  writes a temporary file and renames it over the old one: a crash mid-save keeps the previous copy.
- Save results: `save_state` logs a failure (a full disk) and carries on. Here each save's errors are collected
  from the engine's "persistence" logger and served at `POST /_devkit/save` (save now, answer how it went), so
  `invoke down` can refuse to stop an engine whose data is only in memory. The shutdown save goes through the same
  lock (never two writers of one file) and logs `devkit: final save FAILED` when it fails.
- Prompt reaping: MiniStack's own reaper runs every 30 s, so a burst's surplus workers (~50 MB each) lived up to
  TTL + 30 s. Here the engine's `reap_idle_workers` runs every REAP_INTERVAL seconds.

`POST /_devkit/snapshot` (`invoke snapshot.save`): a save, then a copy of the saved state folder into the folder
the request names, both under the save lock, so the copy is one consistent save of every service.

Workers on the functions' runtime: MiniStack runs a Python function's worker on its own interpreter, whose import
path holds the whole development environment. Here each worker of a Python runtime runs on the interpreter the
tooling prepared for that runtime (DEVKIT_WORKER_RUNTIMES, and `POST /_devkit/workers` for a running engine),
isolated (`-I -S`), with the locked dependency set's folder put on its import path before the code folder that
MiniStack adds: the worker imports the standard library, the bundle's packages and handlers/, nothing else. A
function whose runtime has no prepared interpreter fails to start, as a function on an unsupported runtime does.

`/_devkit/debug` (`invoke debug`): the next workers of the functions named there start under debugpy, listening on
127.0.0.1 at the port asked for, and run the project's own handler files (so a debugger's breakpoints in
`handlers/` map 1:1), with a long timeout so that a stopped breakpoint does not time the invocation out. debugpy
comes from a folder of its own, added to that worker's import path only. Turning it on or off drops the function's
idle workers, so the very next invocation starts a fresh one. A session ends when asked, when the process that
started it is gone, or when the engine stops; its debugged workers are killed then, so that no request waits on a
debugger that will never come (see `Debugging`).

`GET /_devkit/iam` (`invoke iam-report`): every IAM decision the engine made for a signed-in principal since it
started (or since `DELETE /_devkit/iam`), counted per (principal, action, resource, decision). Recorded at the
engine's own evaluation (`iam_evaluator.evaluate`, as its `enforce` calls it for each request), so it holds exactly
what IAM enforcement saw; the root credentials, which are never evaluated, are not in it. The record is written
with every save, beside the state (`.devkit-iam`), and read back at start: it outlives a restart of the engine.

And, for `invoke bench`, `POST /_devkit/profile/start` and `/stop`: a cProfile of the engine's event-loop thread
(HTTP serving and the services' handlers), returned as a pstats summary.

Standard library and MiniStack only: this module is imported by the engine process, not by the tooling.
"""

from __future__ import annotations

import asyncio
import contextvars
import cProfile
import io
import json
import logging
import os
import pstats
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

SAVE_INTERVAL = float(os.environ.get("DEVKIT_SAVE_INTERVAL", "2"))
# Taking the state (the services' own deep copies, on the event loop) grows with the data; under sustained load
# the wait between saves stretches so that this costs at most this share of the loop's time.
MAX_LOOP_SHARE = 0.1
REAP_INTERVAL = float(os.environ.get("DEVKIT_REAP_INTERVAL", "2"))
CONTROL_PREFIX = "/_devkit/"
FINAL_SAVE_FAILED = "devkit: final save FAILED"
# The IAM decision record, in the state folder; not a `.json`, which MiniStack would load as a service's state.
IAM_RECORD = ".devkit-iam"
# Diagnostics, not data: the functions' log lines grow with every invocation (80% of the saved state after a
# benchmark) and copying them every few seconds cost the engine ~10% of its event loop under load. They are saved
# by `POST /_devkit/save` and at shutdown, not periodically.
NOT_SAVED_PERIODICALLY = frozenset({"cloudwatch_logs"})
# A `get_state` deep-copies dicts another thread (the SQS poller, a Lambda invocation) may be changing; the copy
# then fails with RuntimeError and is simply taken again.
_SNAPSHOT_ATTEMPTS = 5

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("devkit")


class _Collect(logging.Handler):
    """Keeps the error records the engine's persistence module logs while a save runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Saver:
    """Saves the engine's state with its own functions, one save at a time, and remembers how each went."""

    def __init__(self, engine: Any, persistence: Any) -> None:
        self.engine = engine
        self.persistence = persistence
        self.lock = threading.RLock()
        # A request changed state: save until this time (the poller settles after it).
        self.changed_until = 0.0
        self.last_good: float | None = None
        self.last_errors: list[str] = []
        self.saves = 0
        self.snapshot_seconds = 0.0  # on the event loop, over all saves
        self.write_seconds = 0.0  # in a worker thread, over all saves
        self.last_snapshot = 0.0
        # Written beside the services' state by every save (the devkit's own records).
        self.also_save: list[Callable[[], None]] = []
        self._collect = _Collect()
        logging.getLogger("persistence").addHandler(self._collect)

    def touched(self) -> None:
        self.changed_until = time.time() + 2 * SAVE_INTERVAL

    def snapshot(self, *, periodic: bool = False) -> tuple[dict[str, Any], list[str]]:
        """Every service's state, taken with its own `get_state` (on the event loop, between requests)."""
        started = time.perf_counter()
        try:
            return self._snapshot(periodic)
        finally:
            self.last_snapshot = time.perf_counter() - started
            self.snapshot_seconds += self.last_snapshot

    def _snapshot(self, periodic: bool) -> tuple[dict[str, Any], list[str]]:
        states: dict[str, Any] = {}
        errors: list[str] = []
        for name, get_state in self.engine._build_persistence_save_dict().items():
            if periodic and name in NOT_SAVED_PERIODICALLY:
                continue
            for attempt in range(_SNAPSHOT_ATTEMPTS):
                try:
                    state = get_state()
                    break
                except RuntimeError as error:
                    if attempt == _SNAPSHOT_ATTEMPTS - 1:
                        errors.append(f"could not take {name}'s state: {error}")
                        state = None
            if state is not None:
                states[name] = state
        return states, errors

    def write(self, states: dict[str, Any], errors: list[str]) -> dict[str, Any]:
        """Write the states with the engine's `save_state`; the result says whether every file was written."""
        started = time.time()
        # Re-entrant: `copy_to` holds it across a write and the copy.
        with self.lock:
            self._collect.messages = []
            for name, state in states.items():
                self.persistence.save_state(name, state)
            errors = [*errors, *self._collect.messages, *self._save_own()]
            self.saves += 1
            self.write_seconds += time.time() - started
            self.last_errors = errors
            if not errors:
                self.last_good = started
        return self.status(seconds=time.time() - started)

    def copy_to(self, states: dict[str, Any], errors: list[str], folder: str) -> dict[str, Any]:
        """Write the states, then copy the state folder to `folder` before any other save can change it."""
        with self.lock:
            result = self.write(states, errors)
            if result["ok"]:
                try:
                    shutil.copytree(os.environ["STATE_DIR"], folder)
                except OSError as error:
                    shutil.rmtree(folder, ignore_errors=True)
                    result = {
                        **result,
                        "ok": False,
                        "errors": [f"could not copy the state to {folder}: {error}"],
                    }
        return result

    def save_all(self, services: dict[str, Any]) -> None:
        """The engine's shutdown save (`save_all`), under the same lock, with its outcome logged."""
        with self.lock:
            self._collect.messages = []
            self.original_save_all(services)
            errors = [*self._collect.messages, *self._save_own()]
        if errors:
            logger.error("%s: %s", FINAL_SAVE_FAILED, "; ".join(errors))

    original_save_all: Callable[[dict[str, Any]], None]

    def _save_own(self) -> list[str]:
        errors = []
        for save in self.also_save:
            try:
                save()
            except OSError as error:
                errors.append(f"could not write a devkit record: {error}")
        return errors

    def status(self, **extra: Any) -> dict[str, Any]:
        return {
            "ok": not self.last_errors,
            "errors": self.last_errors,
            "last_good_save": self.last_good,
            "saves": self.saves,
            "interval": SAVE_INTERVAL,
            "snapshot_seconds": self.snapshot_seconds,
            "write_seconds": self.write_seconds,
            **extra,
        }

    async def save_now(self, *, periodic: bool = False) -> dict[str, Any]:
        states, errors = self.snapshot(periodic=periodic)
        return await asyncio.to_thread(self.write, states, errors)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(SAVE_INTERVAL, self.last_snapshot / MAX_LOOP_SHARE))
            if time.time() <= self.changed_until:
                try:
                    await self.save_now(periodic=True)
                except Exception:  # a save that raised must not end periodic saving
                    logger.exception("devkit: periodic save failed")


# While a debugger holds a function at a breakpoint, its invocation must not time out.
DEBUG_TIMEOUT_SECONDS = 900
# How often the launcher looks whether the process that started a debug session still runs.
OWNER_CHECK_INTERVAL = 1.0
# Put before MiniStack's Python worker script: start debugpy, then make the worker load the handler from the
# project's folder instead of the unzipped copy (the first line the worker reads names the code folder).
_DEBUG_PRELUDE = """
import json as _devkit_json, sys as _devkit_sys
_devkit_sys.path.append({debugpy_path!r})
try:
    import debugpy as _devkit_debugpy
    # In the worker itself, not in a separate adapter process: the port closes when the worker is killed.
    _devkit_debugpy.listen(("127.0.0.1", {port}), in_process_debug_adapter=True)
    _devkit_sys.stderr.write("devkit: debugpy listens on 127.0.0.1:{port}\\n")
    if {wait}:
        _devkit_sys.stderr.write("devkit: waiting for a debugger to attach\\n")
        _devkit_debugpy.wait_for_client()
except Exception as _devkit_error:
    _devkit_sys.stderr.write(f"devkit: no debugger for this worker: {{_devkit_error}}\\n")


class _DevkitStdin:
    def __init__(self, stream):
        self._stream, self._first = stream, True

    def readline(self):
        line = self._stream.readline()
        if self._first and line:
            self._first = False
            init = _devkit_json.loads(line)
            init["code_dir"] = {code_dir!r}
            line = _devkit_json.dumps(init) + "\\n"
        return line

    def __getattr__(self, name):
        return getattr(self._stream, name)


_devkit_sys.stdin = _DevkitStdin(_devkit_sys.stdin)
"""


# Put before MiniStack's Python worker script, whose own code then inserts the function's code folder before it.
_RUNTIME_PRELUDE = """
import sys as _devkit_sys
_devkit_sys.path.insert(0, {packages!r})
"""


class WorkerRuntimes:
    """The interpreter and dependency folder of each Python runtime, and the patch that makes MiniStack's workers
    use them instead of the engine's own interpreter."""

    def __init__(self, runtime: Any, prepared: dict[str, dict[str, str]]) -> None:
        self.runtime = runtime
        self.prepared = prepared
        original_detect = runtime._detect_runtime_binary
        runtimes = self

        def detect(runtime_name: str) -> tuple[str, str]:
            binary, script = original_detect(runtime_name)
            if not str(runtime_name).startswith("python"):
                return binary, script
            settings = runtimes.prepared.get(runtime_name)
            if settings is None:
                raise RuntimeError(
                    f"no interpreter prepared for {runtime_name} (prepared: {', '.join(runtimes.prepared) or 'none'})"
                    ": `invoke up` prepares the template's runtimes"
                )
            return settings["python"], _RUNTIME_PRELUDE.format(packages=settings["packages"]) + script

        runtime._detect_runtime_binary = detect

    def answer(self, method: str, request: dict[str, Any]) -> dict[str, Any]:
        prepared = request.get("runtimes")
        if method == "POST" and isinstance(prepared, dict) and prepared != self.prepared:
            self.prepared = prepared
            # Idle workers run the previous set; the next invocation starts one on the new one.
            with self.runtime._lock:
                idle = [
                    worker
                    for entries in self.runtime._workers.values()
                    for worker in entries
                    if not worker.in_use
                ]
                for key, entries in list(self.runtime._workers.items()):
                    busy = [worker for worker in entries if worker.in_use]
                    if busy:
                        self.runtime._workers[key] = busy
                    else:
                        self.runtime._workers.pop(key, None)
            self.runtime.kill_workers(idle)
        return {"runtimes": self.prepared}


class Debugging:
    """The functions whose new workers start under debugpy, and the patches of the engine's worker spawning.

    A session belongs to the process that asked for it (`invoke debug`, its `owner`). It ends when that process
    asks (Ctrl-C, `invoke debug.off`), when `invoke up` or `invoke down` clears every session, when the owner is gone (killed
    with SIGKILL, its terminal closed: nobody else would ever end it), and when the engine shuts down. Ending it
    kills the function's debugged workers, busy ones included: a request held at a breakpoint or waiting for a
    debugger then fails at once instead of keeping a thread of the engine, which would block its shutdown (the
    event loop's executor waits for every thread) and keep the debug port open."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.functions: dict[str, dict[str, Any]] = {}
        # The workers started under the debugger, by function: each goes when its session ends.
        self._debugged: dict[str, list[Any]] = {}
        # Debugged workers still starting (debugpy may be waiting for a client inside the engine's spawn) ...
        self._starting: set[Any] = set()
        # ... and those of them whose session ended meanwhile: killed again until their start gives up.
        self._ended_while_starting: set[Any] = set()
        # How each function's last session ended and whose it was: its `invoke debug` reads why it ended.
        self.endings: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._spawning = threading.local()
        self._patch_spawning()

    def _patch_spawning(self) -> None:
        runtime = self.runtime
        original_spawn = runtime.Worker._spawn
        original_detect = runtime._detect_runtime_binary
        debugging = self

        def spawn(worker: Any) -> None:
            settings = debugging._debugged_spawn(worker)
            if settings is None:
                original_spawn(worker)
                return
            worker.config = {**worker.config, "Timeout": DEBUG_TIMEOUT_SECONDS}
            debugging._spawning.settings = settings
            try:
                original_spawn(worker)
            finally:
                debugging._spawning.settings = None
                debugging._started(worker)

        def detect(runtime_name: str) -> tuple[str, str]:
            binary, script = original_detect(runtime_name)
            settings = getattr(debugging._spawning, "settings", None)
            if settings is not None and str(runtime_name).startswith("python"):
                script = _DEBUG_PRELUDE.format(**settings) + script
            return binary, script

        runtime.Worker._spawn = spawn
        runtime._detect_runtime_binary = detect

    def _debugged_spawn(self, worker: Any) -> dict[str, Any] | None:
        """The settings of the worker's function when it is under the debugger (the worker is then recorded)."""
        with self._lock:
            session = self.functions.get(worker.func_name)
            if session is None:
                return None
            self._debugged.setdefault(worker.func_name, []).append(worker)
            self._starting.add(worker)
            return {key: session[key] for key in ("port", "wait", "code_dir", "debugpy_path")}

    def _started(self, worker: Any) -> None:
        with self._lock:
            self._starting.discard(worker)
            ended = worker in self._ended_while_starting
            self._ended_while_starting.discard(worker)
        if ended:
            self.runtime.kill_workers([worker])

    def answer(self, method: str, request: dict[str, Any]) -> dict[str, Any]:
        """GET: the sessions; POST: start one; DELETE: end the named function's, or every session (the request
        says why)."""
        name = request.get("function")
        ended: list[str] = []
        if method == "POST" and isinstance(name, str):
            self.begin(name, request)
        elif method == "DELETE":
            reason = str(request.get("reason") or "a request to the engine")
            ended = self.end([name] if isinstance(name, str) else list(self.functions), reason)
        return {"debugging": self.sessions(), "ended": ended, "endings": self.endings}

    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                name: {**session, "owner_alive": _alive(session.get("owner"))}
                for name, session in self.functions.items()
            }

    def begin(self, name: str, request: dict[str, Any]) -> None:
        owner = request.get("owner")
        with self._lock:
            self.functions[name] = {
                "port": int(request["port"]),
                "wait": bool(request.get("wait")),
                "code_dir": str(request["code_dir"]),
                "debugpy_path": str(request["debugpy_path"]),
                "owner": owner if isinstance(owner, int) else None,
                "label": str(request.get("label") or name),
                "since": time.time(),
            }
        self._drop_idle_workers(name)

    def end(self, names: list[str], reason: str) -> list[str]:
        """End these functions' sessions: their debugged workers are killed, and their idle ones dropped so that
        the next invocation starts a worker as deployed. Returns the names that had a session."""
        ended: list[str] = []
        doomed: list[Any] = []
        with self._lock:
            for name in names:
                session = self.functions.pop(name, None)
                if session is not None:
                    ended.append(name)
                    self.endings[name] = {"owner": session["owner"], "reason": reason}
                workers = self._debugged.pop(name, [])
                doomed.extend(workers)
                self._ended_while_starting.update(worker for worker in workers if worker in self._starting)
        self._forget_workers(doomed)
        for name in ended:
            self._drop_idle_workers(name)
        if ended:
            logger.warning("devkit: debugging ended for %s (%s)", ", ".join(ended), reason)
        return ended

    def end_abandoned(self) -> list[str]:
        """End the sessions whose owner process is gone."""
        with self._lock:
            abandoned = [name for name, session in self.functions.items() if not _alive(session.get("owner"))]
        return self.end(abandoned, "its `invoke debug` process is gone") if abandoned else []

    def watch_owners(self, interval: float = OWNER_CHECK_INTERVAL) -> None:
        """Forever: end abandoned sessions, and kill again the ended workers whose start is still blocked (one
        started between the end of its session and the kill has its process only now)."""
        while True:
            time.sleep(interval)
            try:
                self.end_abandoned()
                with self._lock:
                    blocked = [worker for worker in self._ended_while_starting if worker._proc is not None]
                self.runtime.kill_workers(blocked)
            except Exception:  # the next round tries again
                logger.exception("devkit: checking the debug sessions failed")

    def _forget_workers(self, workers: list[Any]) -> None:
        """Out of their pools (never reused: they carry the debugger and its timeout), then killed."""
        if not workers:
            return
        runtime = self.runtime
        with runtime._lock:
            for key, entries in list(runtime._workers.items()):
                kept = [worker for worker in entries if worker not in workers]
                if kept:
                    runtime._workers[key] = kept
                else:
                    runtime._workers.pop(key, None)
        runtime.kill_workers(workers)

    def _drop_idle_workers(self, name: str) -> None:
        """The function's idle workers go, so that its next invocation starts one with the new settings."""
        runtime = self.runtime
        idle: list[Any] = []
        with runtime._lock:
            for key, entries in list(runtime._workers.items()):
                if key.split(":", 3)[2] != name:
                    continue
                idle.extend(worker for worker in entries if not worker.in_use)
                busy = [worker for worker in entries if worker.in_use]
                if busy:
                    runtime._workers[key] = busy
                else:
                    runtime._workers.pop(key, None)
        runtime.kill_workers(idle)


class IamRecorder:
    """Counts the engine's IAM decisions per (principal, action, resource, decision), by wrapping its `enforce`
    (one per request check) and noting the identity evaluation `enforce` makes through `evaluate`. With a `path`,
    the record is read from it at start and written to it by `save`."""

    def __init__(self, evaluator: Any, path: str | None = None) -> None:
        self.evaluator = evaluator
        self.path = path
        self.lock = threading.Lock()
        self.started = time.time()
        self.decisions: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._load()
        self._checking: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
            "devkit_iam_check", default=None
        )
        original_enforce, original_evaluate = evaluator.enforce, evaluator.evaluate
        recorder = self

        def evaluate(ctx: Any, *args: Any, **kwargs: Any) -> Any:
            contexts = recorder._checking.get()
            if contexts is not None:
                contexts.append(ctx)
            return original_evaluate(ctx, *args, **kwargs)

        def enforce(*args: Any, **kwargs: Any) -> Any:
            token = recorder._checking.set([])
            try:
                result = original_enforce(*args, **kwargs)
                contexts = recorder._checking.get() or []
            finally:
                recorder._checking.reset(token)
            if contexts:
                # The first evaluation is the identity policies'; `result` is the combined decision (None: allowed).
                decision = "Allow" if result is None else str(getattr(result, "decision", "Denied"))
                recorder.record(
                    contexts[0].principal_arn, contexts[0].action, contexts[0].resource_arn, decision
                )
            return result

        # The engine's modules import `enforce` inside their functions, so the module attribute is what they call.
        evaluator.enforce, evaluator.evaluate = enforce, evaluate

    def record(self, principal: str, action: str, resource: str, decision: str) -> None:
        now = time.time()
        with self.lock:
            entry = self.decisions.setdefault(
                (principal, action, resource, decision), {"count": 0, "first": now, "last": now}
            )
            entry["count"] += 1
            entry["last"] = now

    def answer(self, method: str) -> dict[str, Any]:
        if method == "DELETE":
            with self.lock:
                self.decisions.clear()
                self.started = time.time()
            self.save()
        with self.lock:
            calls = [
                {
                    "principal": principal,
                    "action": action,
                    "resource": resource,
                    "decision": decision,
                    **entry,
                }
                for (principal, action, resource, decision), entry in self.decisions.items()
            ]
        return {"since": self.started, "calls": calls}

    def save(self) -> None:
        """Write the record (a temporary file renamed over the old one: a crash keeps the previous record)."""
        if self.path is None:
            return
        record = self.answer("GET")
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(temporary, self.path)

    def _load(self) -> None:
        if self.path is None or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as file:
                record = json.load(file)
            self.started = float(record["since"])
            for call in record["calls"]:
                key = (call["principal"], call["action"], call["resource"], call["decision"])
                self.decisions[key] = {
                    "count": int(call["count"]),
                    "first": call["first"],
                    "last": call["last"],
                }
        except (OSError, ValueError, KeyError, TypeError):
            # A record that cannot be read starts afresh, from now: the report says since when.
            logger.exception(
                "devkit: the IAM decision record %s could not be read; starting a new one", self.path
            )
            self.decisions.clear()
            self.started = time.time()


def _alive(pid: object) -> bool:
    """Whether the process runs (a zombie, killed but not yet reaped by its parent, does not)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # no /proc (macOS): the signal answered, so it runs
        return True


def _reap_forever() -> None:
    while True:
        time.sleep(REAP_INTERVAL)
        runtime = sys.modules.get("ministack.core.lambda_runtime")
        if runtime is not None:
            try:
                runtime.reap_idle_workers()
            except Exception:  # the next round tries again; the engine's own reaper still runs too
                logger.exception("devkit: reaping idle Lambda workers failed")


class Control:
    """The ASGI layer in front of MiniStack's app: starts periodic saving once the engine has loaded its state,
    marks state as changed on each request, and answers the /_devkit/ routes."""

    def __init__(
        self,
        app: Asgi,
        saver: Saver,
        debugging: Debugging | None = None,
        runtimes: WorkerRuntimes | None = None,
        iam: IamRecorder | None = None,
    ) -> None:
        self.app = app
        self.saver = saver
        self.debugging = debugging
        self.runtimes = runtimes
        self.iam = iam
        self.profiler: cProfile.Profile | None = None
        self._saving: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        if not path.startswith("/_ministack/"):
            self.saver.touched()
        await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def forward(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                # Only now: saving before the engine has loaded its state would overwrite it with nothing.
                self._saving = asyncio.get_running_loop().create_task(self.saver.run())
                threading.Thread(target=_reap_forever, name="devkit-reaper", daemon=True).start()
                if self.debugging is not None:
                    threading.Thread(
                        target=self.debugging.watch_owners, name="devkit-debug-owners", daemon=True
                    ).start()
            await send(message)

        return forward

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def forward() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self._saving is not None:
                self._saving.cancel()  # the engine's shutdown save follows
            if message["type"] == "lifespan.shutdown" and self.debugging is not None:
                # A thread blocked on a debugged worker whose client has gone would keep the process from
                # exiting (the loop's shutdown waits for its executor's threads). A request still open never gets
                # here: the server waits for open connections first, which is why `invoke down` ends the
                # sessions before it signals the engine.
                await asyncio.to_thread(
                    self.debugging.end, list(self.debugging.functions), "the engine's shutdown"
                )
            return message

        return forward

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (scope["method"], scope["path"][len(CONTROL_PREFIX) :])
        request = await _request_body(receive)
        if route == ("POST", "save"):
            body = await self.saver.save_now()
        elif route == ("POST", "snapshot") and isinstance(request.get("into"), str):
            states, errors = self.saver.snapshot()
            body = await asyncio.to_thread(self.saver.copy_to, states, errors, request["into"])
        elif route == ("GET", "save"):
            body = self.saver.status()
        elif route[1] == "iam" and route[0] in ("GET", "DELETE") and self.iam is not None:
            body = self.iam.answer(route[0])
        elif route[1] == "debug" and self.debugging is not None:
            # Off the event loop: ending a session waits for its workers to exit.
            body = await asyncio.to_thread(self.debugging.answer, route[0], request)
        elif route[1] == "workers" and self.runtimes is not None:
            body = self.runtimes.answer(route[0], request)
        elif route == ("POST", "profile/start"):
            self.profiler = cProfile.Profile()
            self.profiler.enable()
            body = {"profiling": True}
        elif route == ("POST", "profile/stop") and self.profiler is not None:
            self.profiler.disable()
            body = {"profile": _summary(self.profiler)}
            self.profiler = None
        else:
            await _answer(send, 404, {"message": f"no devkit route {scope['method']} {scope['path']}"})
            return
        await _answer(send, 200, body)


async def _request_body(receive: Receive) -> dict[str, Any]:
    """The request's JSON object body (empty when there is none)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    data = b"".join(chunks)
    try:
        document = json.loads(data) if data else {}
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _summary(profiler: cProfile.Profile, lines: int = 25) -> str:
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(lines)
    return text.getvalue()


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    import ministack.app as engine
    from ministack.core import iam_evaluator, lambda_runtime, persistence

    saver = Saver(engine, persistence)
    saver.original_save_all = engine.save_all
    # `main()` serves the module's `app` and its lifespan calls the module's `save_all`, both looked up at call time.
    engine.save_all = saver.save_all
    runtimes = WorkerRuntimes(lambda_runtime, json.loads(os.environ.get("DEVKIT_WORKER_RUNTIMES", "{}")))
    iam = IamRecorder(iam_evaluator, os.path.join(os.environ["STATE_DIR"], IAM_RECORD))
    saver.also_save.append(iam.save)
    # First the runtimes' patch, then debugging's, which wraps it (a debugged worker gets both preludes).
    engine.app = Control(engine.app, saver, Debugging(lambda_runtime), runtimes, iam)
    sys.argv[1:] = []  # the engine parses its own options (none are used); the launcher's path is not one
    engine.main()


if __name__ == "__main__":
    main()
