"""`invoke debug` never wedges the engine: a private MiniStack with the stack deployed, the reader under the real
`invoke debug --wait` (a process of its own, as from another terminal) and a GET waiting for a debugger that never
attaches. `invoke status` shows the session; `invoke debug.off`, the next `invoke up`, a killed `invoke debug`
and `invoke down` each end it: the waiting request answers, the debug port closes, and the engine keeps serving (or,
for `down`, stops as usual)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devkit.core.http import Reply, call
from devkit.core.project import ROOT
from devkit.core.waiting import wait_for
from devkit.engines.debugging import describe_sessions, sessions
from devkit.engines.lifecycle import start_local
from devkit.engines.ministack import MiniStack, free_port, port_is_free
from devkit.stack.auth import READ_WRITE_SCOPES, authorization_header
from devkit.stack.outputs import reachable_outputs

from .private import deployed_engine

STAGE = "dev"
# Every wait is bounded: a request through the API, `invoke debug` starting or ending, the debug port opening or
# closing. A GET held by a debugger that never attaches would exceed them all.
REQUEST_TIMEOUT = 60.0
SESSION_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniStack]:
    with deployed_engine(tmp_path_factory.mktemp("debugging")) as private:
        yield private


@pytest.fixture
def engine(deployed: MiniStack) -> MiniStack:
    deployed.start()  # running again after the `down` test, whatever the order
    return deployed


@dataclass
class DebugCommand:
    """`invoke debug reader --wait` running in its own process, as from another terminal."""

    process: subprocess.Popen[str]
    port: int

    def finished(self) -> tuple[int, str]:
        """Its exit code and output, once it has exited (killed: once reaped)."""
        out, _ = self.process.communicate(timeout=SESSION_TIMEOUT)
        return self.process.returncode, out


def _invoke(engine: MiniStack, *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *arguments],
        cwd=ROOT,
        env={**os.environ, "PURCHASE_LOCAL_DIR": str(engine.state_dir.parent)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def debug_command(engine: MiniStack) -> Iterator[DebugCommand]:
    port = free_port()
    command = DebugCommand(_invoke(engine, "debug", "reader", "--wait", "--port", str(port)), port)
    try:
        wait_for(
            lambda: (
                command.process.poll() is not None or any(s.function == "reader" for s in sessions(engine))
            ),
            timeout=SESSION_TIMEOUT,
            what="`invoke debug reader` to start its session",
        )
        assert command.process.poll() is None, command.finished()
        yield command
    finally:
        if command.process.poll() is None:
            command.process.kill()
        command.process.communicate(timeout=SESSION_TIMEOUT)


def _api(engine: MiniStack) -> tuple[str, dict[str, str]]:
    values = reachable_outputs(engine, STAGE)
    return values["ProductPurchaseApi"], authorization_header(engine, values, READ_WRITE_SCOPES)


def _get_waiting_for_the_debugger(
    engine: MiniStack, command: DebugCommand
) -> tuple[threading.Thread, list[Reply]]:
    """A GET in the background, held by the reader's worker waiting for a debugger on the command's port."""
    api, headers = _api(engine)
    replies: list[Reply] = []
    request = threading.Thread(
        target=lambda: replies.append(call("GET", api, headers=headers, timeout=REQUEST_TIMEOUT)), daemon=True
    )
    request.start()
    wait_for(
        lambda: bool(replies) or not port_is_free(command.port),
        timeout=SESSION_TIMEOUT,
        what=f"the reader's worker to listen for a debugger on {command.port}",
    )
    assert not replies, (
        f"answered without waiting for the debugger: {replies[0].status} {replies[0].body[:500]!r}"
    )
    return request, replies


def _answered(request: threading.Thread, replies: list[Reply]) -> Reply:
    request.join(REQUEST_TIMEOUT)
    assert not request.is_alive(), "the GET held by the debugged worker never answered"
    return replies[0]


def _debug_port_closes(command: DebugCommand) -> None:
    wait_for(
        lambda: port_is_free(command.port),
        timeout=SESSION_TIMEOUT,
        what=f"nothing to listen on the debug port {command.port}",
    )


def _serves_as_deployed(engine: MiniStack) -> None:
    api, headers = _api(engine)
    assert call("GET", api, headers=headers, timeout=REQUEST_TIMEOUT).status == 200
    assert not sessions(engine)


def test_status_shows_the_function_under_the_debugger_and_debug_off_ends_it(
    engine: MiniStack, debug_command: DebugCommand
) -> None:
    # Given the reader under `invoke debug --wait` and a GET waiting for a debugger
    request, replies = _get_waiting_for_the_debugger(engine, debug_command)

    # Then `invoke status` says so, naming the port and the process that holds it
    (line,) = describe_sessions(engine)
    assert "reader (" in line and f"127.0.0.1:{debug_command.port}" in line
    assert f"PID {debug_command.process.pid} runs" in line

    # When `invoke debug.off reader` runs
    off = _invoke(engine, "debug.off", "reader")
    out, _ = off.communicate(timeout=SESSION_TIMEOUT)
    assert off.returncode == 0, out
    assert "reader runs without the debugger again." in out

    # Then the waiting GET fails at once with the API's answer for a failed function, the port closes, the
    # `invoke debug` that held the session says what ended it, and the reader answers as deployed
    assert _answered(request, replies).status == 502
    _debug_port_closes(debug_command)
    code, said = debug_command.finished()
    assert code == 0 and "The debugging of reader was ended by `invoke debug.off reader`." in said, said
    assert not describe_sessions(engine)
    _serves_as_deployed(engine)


def test_a_killed_invoke_debug_leaves_no_session_behind(
    engine: MiniStack, debug_command: DebugCommand
) -> None:
    # Given the reader under `invoke debug --wait` and a GET waiting for a debugger
    request, replies = _get_waiting_for_the_debugger(engine, debug_command)

    # When `invoke debug` is killed with SIGKILL (it cannot put the function back itself)
    debug_command.process.send_signal(signal.SIGKILL)
    debug_command.finished()

    # Then the engine ends its session: the GET answers, the port closes, and the next GET is served as deployed
    assert _answered(request, replies).status == 502
    _debug_port_closes(debug_command)
    _serves_as_deployed(engine)


def test_the_next_invoke_up_ends_a_session_left_running(
    engine: MiniStack, debug_command: DebugCommand
) -> None:
    # Given the reader under an `invoke debug --wait` left running, and a GET waiting for a debugger
    request, replies = _get_waiting_for_the_debugger(engine, debug_command)

    # When `invoke up` brings the (running) engine up again
    said: list[str] = []
    start_local(engine, fresh=False, restore=False, progress=said.append)

    # Then it says it ended the session, the GET answers, the port closes, the `invoke debug` ends, and the reader
    # is served as deployed
    assert f"Ended the debugging of reader (it was on 127.0.0.1:{debug_command.port})." in said
    assert _answered(request, replies).status == 502
    _debug_port_closes(debug_command)
    code, out = debug_command.finished()
    assert code == 0 and "The debugging of reader was ended by `invoke up`." in out, out
    _serves_as_deployed(engine)


def test_invoke_down_stops_an_engine_with_a_request_waiting_for_the_debugger(
    engine: MiniStack, debug_command: DebugCommand
) -> None:
    # Given the reader under `invoke debug --wait`, a GET waiting for a debugger, and that `invoke debug`
    # suspended (Ctrl-Z in its terminal: it neither ends its session nor is gone)
    request, replies = _get_waiting_for_the_debugger(engine, debug_command)
    process = engine.pid()
    debug_command.process.send_signal(signal.SIGSTOP)

    # When `invoke down` stops the engine, saving its state (no --force)
    engine.stop()

    # Then it stopped within its usual time (a stop that times out raises), the GET got the API's answer for a
    # failed function, and nothing listens on the debug port
    assert engine.pid() is None and process is not None and not _running(process)
    assert _answered(request, replies).status == 502
    _debug_port_closes(debug_command)
    # And `invoke debug`, resumed, says the engine stopped
    debug_command.process.send_signal(signal.SIGCONT)
    code, out = debug_command.finished()
    assert code == 1 and "The engine stopped" in out, out


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
