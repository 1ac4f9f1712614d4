"""Work on one function of the running stack: sample events, invoking it with one, stepping through it."""

from __future__ import annotations

import json

from invoke.context import Context

from devkit import ui
from devkit.commands import command, running, say
from devkit.project import ToolingError, check_stage, stack_name


@command(
    positional=["kind"],
    help={"kind": "api-get, api-post, api-put, api-delete, sqs-write, stream-change, ws-connect"},
)
def event(c: Context, kind: str) -> None:
    """Print a ready sample event of that kind (pipe it to `invoke call FUNCTION --event -`)."""
    from devkit.events import FOR_FUNCTION, sample_event

    say(json.dumps(sample_event(kind), indent=2))
    if ui.console.is_terminal:  # read, not piped: say where it goes
        ui.note(
            f"An event for the {FOR_FUNCTION[kind]}: `invoke event {kind} | invoke call {FOR_FUNCTION[kind]} --event -`"
        )


@command(
    positional=["function"],
    help={
        "function": "sender, reader, writer, notifier, connections or authorizer",
        "event": "JSON file with the event (- reads standard input; default: {})",
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
    },
)
def call(c: Context, function: str, event: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Invoke one function's `live` alias with an event; print its result and its log lines."""
    from devkit.invoking import invoke, read_event
    from devkit.stacks import function_named

    payload = read_event(event)  # before anything else: a bad file fails alone
    engine = running(target)
    name = function_named(engine, stack_name(check_stage(stage)), function)
    result = invoke(engine, name, payload)
    # The log on stderr, the result alone on stdout: `invoke call reader --event e.json | jq .body` works.
    ui.errors.print(
        ui.Text(f"{name}:live (version {result.version}), its log:", style="bold"), soft_wrap=True
    )
    for line in result.log_lines:
        ui.errors.print(ui.Text(line, style="dim"), soft_wrap=True)
    say(result.payload if isinstance(result.payload, str) else json.dumps(result.payload, indent=2))
    if result.function_error:
        raise ToolingError(f"{function} failed ({result.function_error}); its error is printed above.")


@command(
    positional=["function"],
    help={
        "function": "sender, reader, writer, notifier, connections or authorizer",
        "port": "port on 127.0.0.1 that debugpy listens on (default 5678)",
        "wait": "the first invocation waits until a debugger has attached",
        "off": "put the function back as it was (what Ctrl-C does)",
        "stage": "stage (default dev)",
    },
)
def debug(
    c: Context, function: str, port: int = 5678, wait: bool = False, off: bool = False, stage: str = "dev"
) -> None:
    """Run one function's next invocations under debugpy (attach VS Code to it) until Ctrl-C or --off."""
    from devkit import debugging
    from devkit.engines.ministack import MiniStack
    from devkit.stacks import function_named

    engine = running("ministack")
    assert isinstance(engine, MiniStack)
    name = function_named(engine, stack_name(check_stage(stage)), function)
    if off:
        if not debugging.stop(engine, function, name):
            say(f"{function} was not under the debugger.")
            return
    else:
        debugging.debug_until_interrupted(engine, function, name, port=port, wait=wait, show=say)
    say(f"{function} runs without the debugger again.")
