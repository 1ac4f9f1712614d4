"""Work on one function of the running stack: sample events, and invoking it with one."""

from __future__ import annotations

import json

from invoke.context import Context

from devkit.commands import command, running, say
from devkit.core import ui
from devkit.core.project import ToolingError, check_stage, stack_name


@command(
    positional=["kind"],
    help={"kind": "api-get, api-post, api-put, api-delete, sqs-write, stream-change, ws-connect"},
)
def event(c: Context, kind: str) -> None:
    """Print a ready sample event of that kind (pipe it to `invoke call FUNCTION --event -`)."""
    from devkit.stack.events import FOR_FUNCTION, sample_event

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
    },
)
def call(c: Context, function: str, event: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Invoke one function's `live` alias with an event; print its result and its log lines."""
    from devkit.stack.invoking import invoke, read_event
    from devkit.stack.stacks import function_named

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
