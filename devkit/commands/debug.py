"""Step through one function of the running local stack: `invoke debug FUNCTION` (or `debug.on`), `debug.off`."""

from __future__ import annotations

from invoke.context import Context

from devkit.commands import command, running, say
from devkit.core.project import ToolingError, check_stage, stack_name
from devkit.engines import debugging
from devkit.engines.ministack import MiniStack
from devkit.stack.stacks import function_named

FUNCTION_HELP = "sender, reader, writer, notifier, sweeper, connections or authorizer"


@command(
    positional=["function"],
    default=True,
    help={
        "function": FUNCTION_HELP,
        "port": "port on 127.0.0.1 that debugpy listens on (default 5678)",
        "wait": "the first invocation waits until a debugger has attached",
    },
)
def on(c: Context, function: str, port: int = 5678, wait: bool = False, stage: str = "dev") -> None:
    """Run one function's next invocations under debugpy (attach VS Code to it) until Ctrl-C."""
    engine = _local_engine()
    name = function_named(engine, stack_name(check_stage(stage)), function)
    debugging.debug_until_interrupted(engine, function, name, port=port, wait=wait, show=say)
    say(f"{function} runs without the debugger again.")


@command(positional=["function"], help={"function": FUNCTION_HELP})
def off(c: Context, function: str, stage: str = "dev") -> None:
    """Put a function back as it was after a debugging session (what Ctrl-C in `invoke debug` does)."""
    engine = _local_engine()
    if not debugging.stop(engine, function, function_named(engine, stack_name(check_stage(stage)), function)):
        say(f"{function} was not under the debugger.")
        return
    say(f"{function} runs without the debugger again.")


def _local_engine() -> MiniStack:
    engine = running("ministack")
    if not isinstance(engine, MiniStack):
        raise ToolingError("Debugging runs on the MiniStack engine.")
    return engine
