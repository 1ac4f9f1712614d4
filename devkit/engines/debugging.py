"""`invoke debug`: one function of the local stack run under debugpy, for VS Code or any DAP client.

The engine's launcher starts the function's next workers with debugpy listening on 127.0.0.1 and running the
project's own `handlers/` files, so a breakpoint set in `handlers/reader.py` is hit by a real API request. Nothing
is added to the handlers or to their bundle: the debugger exists only in the local engine, while asked for.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from devkit.core.project import HANDLERS, ToolingError
from devkit.engines.ministack import MiniStack, port_is_free


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


def start(engine: MiniStack, function: str, function_name: str, *, port: int, wait: bool) -> DebugSession:
    if not 1024 <= port <= 65535:
        raise ToolingError(f"Port {port} is not a port debugpy can listen on: pick one from 1024 to 65535.")
    if not port_is_free(port):
        raise ToolingError(f"Port {port} is in use on 127.0.0.1: pick another one with --port.")
    engine.debug_function(function_name, port=port, wait=wait, code_dir=HANDLERS)
    return DebugSession(function, function_name, port, wait)


def stop(engine: MiniStack, function_name: str) -> None:
    engine.stop_debugging(function_name)


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
    """Debug the function until Ctrl-C, a closed terminal or a kill, each of which puts it back as it was; a
    ToolingError when the engine stops meanwhile."""
    for ending in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, _interrupt)
    session = start(engine, function, function_name, port=port, wait=wait)
    try:
        show(instructions(session))
        show("Send requests as usual (`invoke call`, curl, the console). Ctrl-C puts the function back.")
        while engine.status().running:
            time.sleep(1.0)
        raise ToolingError("The engine stopped; debugging ended with it.")
    except KeyboardInterrupt:
        pass
    finally:
        if engine.status().running:
            stop(engine, function_name)


def _interrupt(signal_number: int, frame: object) -> None:
    raise KeyboardInterrupt
