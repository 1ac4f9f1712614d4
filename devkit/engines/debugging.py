"""`invoke debug`: one function of the local stack run under debugpy, for VS Code or any DAP client.

The engine's launcher starts the function's next workers with debugpy listening on 127.0.0.1 and running the
project's own `handlers/` files, so a breakpoint set in `handlers/reader.py` is hit by a real API request. Nothing
is added to the handlers or to their bundle: the debugger (installed once for the function's runtime) is on the
import path of the debugged function's workers only, while asked for.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from devkit.core.project import HANDLERS, ToolingError
from devkit.core.runtime import debugger_packages
from devkit.engines import Engine
from devkit.engines.ministack import MiniStack, port_is_free
from devkit.engines.ministack.engine import STOPPING


@dataclass(frozen=True)
class DebugSession:
    function: str  # the short name (reader)
    function_name: str  # the engine's name for it
    port: int
    wait: bool

    def launch_configuration(self) -> dict[str, object]:
        """The `.vscode/launch.json` entry that attaches to it."""
        return {
            "name": f"Attach to {self.function} (invoke debug)",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": "127.0.0.1", "port": self.port},
            "pathMappings": [{"localRoot": "${workspaceFolder}/handlers", "remoteRoot": str(HANDLERS)}],
            "justMyCode": True,
        }


@dataclass(frozen=True)
class ActiveSession:
    """A function under the debugger, as the engine reports it."""

    function: str  # the short name (reader)
    function_name: str
    port: int
    owner: int | None  # the PID of the `invoke debug` that started it
    owner_alive: bool

    def describe(self) -> str:
        owner = (
            f"`invoke debug` PID {self.owner} runs"
            if self.owner_alive
            else f"its `invoke debug` (PID {self.owner}) is gone, the engine ends it within a second"
        )
        return (
            f"{self.function} ({self.function_name}) is under the debugger on 127.0.0.1:{self.port}: {owner}; "
            f"`invoke debug.off {self.function}` puts it back."
        )


def sessions(engine: MiniStack) -> list[ActiveSession]:
    return [
        ActiveSession(
            function=str(session.get("label") or name),
            function_name=name,
            port=int(session["port"]),
            owner=session.get("owner"),
            owner_alive=bool(session.get("owner_alive")),
        )
        for name, session in sorted(engine.debug_sessions()[0].items())
    ]


def describe_sessions(engine: Engine) -> list[str]:
    """`invoke status`: one line per function under the debugger (only MiniStack runs a debugger)."""
    return [session.describe() for session in sessions(engine)] if isinstance(engine, MiniStack) else []


def start(
    engine: MiniStack, function: str, function_name: str, *, port: int, wait: bool, owner: int | None = None
) -> DebugSession:
    """Debug the function until `owner` (default: this process) ends it or is gone."""
    if not 1024 <= port <= 65535:
        raise ToolingError(f"Port {port} is not a port debugpy can listen on: pick one from 1024 to 65535.")
    held = next((session for session in sessions(engine) if session.function_name == function_name), None)
    if held is not None and held.owner_alive:
        raise ToolingError(
            f"{function} is already under the debugger on 127.0.0.1:{held.port} for `invoke debug` PID "
            f"{held.owner}: attach to that one, or end it (Ctrl-C there, or `invoke debug.off {function}`)."
        )
    if not port_is_free(port):
        raise ToolingError(f"Port {port} is in use on 127.0.0.1: pick another one with --port.")
    runtime = engine.client("lambda").get_function_configuration(FunctionName=function_name)["Runtime"]
    engine.debug_function(
        function_name,
        port=port,
        wait=wait,
        code_dir=HANDLERS,
        debugpy_path=debugger_packages(runtime),
        owner=os.getpid() if owner is None else owner,
        label=function,
    )
    return DebugSession(function, function_name, port, wait)


def stop(engine: MiniStack, function: str, function_name: str, *, reason: str | None = None) -> bool:
    """End the function's session, wherever it was started; its debugged workers are killed (a request they
    hold fails). Whether there was one."""
    return bool(engine.stop_debugging(function_name, reason=reason or f"`invoke debug.off {function}`"))


def end_all(engine: MiniStack) -> list[ActiveSession]:
    """End every session (`invoke up`: the stack runs as deployed); the ones there were."""
    active = sessions(engine)
    if active:
        engine.stop_debugging(reason="`invoke up`")
    return active


def instructions(session: DebugSession) -> str:
    waits = ", and the first one waits until a debugger attaches" if session.wait else ""
    return (
        f"The next invocations of {session.function} ({session.function_name}) run under debugpy on "
        f"127.0.0.1:{session.port}{waits}.\n"
        f"Attach a debugger (VS Code, or any Debug Adapter Protocol client) to 127.0.0.1:{session.port}. The function "
        f"runs the files in {HANDLERS} themselves, so the path mapping is that folder to itself.\n"
        "VS Code, in .vscode/launch.json (configurations):\n"
        + json.dumps(session.launch_configuration(), indent=2)
    )


def debug_until_interrupted(
    engine: MiniStack,
    function: str,
    function_name: str,
    *,
    port: int,
    wait: bool,
    show: Callable[[str], None],
) -> None:
    """Debug the function until Ctrl-C, a closed terminal or a kill, each of which puts it back as it was (even
    SIGKILL: the engine ends a session whose process is gone), or until it is ended elsewhere; a ToolingError
    when the engine stops meanwhile."""
    for ending in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, _interrupt)
    session = start(engine, function, function_name, port=port, wait=wait)
    try:
        show(instructions(session))
        show("Send requests as usual (`invoke call`, curl, the console). Ctrl-C puts the function back.")
        while (reason := _ended_by(engine, function_name)) is None:
            time.sleep(1.0)
        if reason == STOPPING:
            raise ToolingError("The engine stopped; debugging ended with it.")
        show(f"The debugging of {function} was ended by {reason}.")
    except KeyboardInterrupt:
        if engine.status().running:
            stop(engine, function, function_name, reason="Ctrl-C in its `invoke debug`")


def _ended_by(engine: MiniStack, function_name: str) -> str | None:
    """None while this process's session of the function lasts; then what ended it."""
    try:
        active, endings = engine.debug_sessions()
    except ToolingError:  # a slow answer is not the end of the session; a stopped engine is
        return None if engine.status().running else STOPPING
    if active.get(function_name, {}).get("owner") == os.getpid():
        return None
    ending = endings.get(function_name, {})
    return str(ending["reason"]) if ending.get("owner") == os.getpid() else "another `invoke debug` of it"


def _interrupt(signal_number: int, frame: object) -> None:
    raise KeyboardInterrupt
