"""The `invoke` command layer: each module holds the tasks of one area, thin over the rest of devkit.

`tasks.py` composes them into one flat collection. What the tasks share lives here: the decorator that turns a
failure the user can act on (a ToolingError, an AWS error, no engine, no credentials) into one clear line and exit
code 1 instead of a traceback, and the few lookups every area needs. Output goes through `devkit.core.ui`.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError
from invoke.exceptions import Exit
from invoke.tasks import task

from devkit.core import ui
from devkit.core.project import ToolingError, check_stage
from devkit.engines import Engine, get_engine

F = TypeVar("F", bound=Callable[..., Any])


Expected = (ToolingError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError)


def failure_message(error: Exception) -> str:
    """The one line to show for an expected failure (one of `Expected`)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, text = details.get("Code", "Error"), details.get("Message", str(error))
        if "does not exist" in text and "Stack" in text:
            return f"{text}: deploy it first (`invoke up` locally, `invoke deploy --stage ...` on AWS)."
        return f"{error.operation_name} failed: {code}: {text}"
    if isinstance(error, EndpointConnectionError):
        return f"Nothing answers at {error.kwargs.get('endpoint_url', 'the endpoint')}: is the engine running? (`invoke up`)"
    if isinstance(error, NoCredentialsError):
        return "No AWS credentials found: `aws configure` / `aws sso login`, or set AWS_PROFILE."
    if isinstance(error, NoRegionError):
        return "No AWS region set: set AWS_DEFAULT_REGION (or a region in your AWS profile)."
    return str(error)


def command(**options: Any) -> Callable[[F], Any]:
    """`@task` whose expected failures (see `failure_message`) become one red line on stderr and exit code 1."""

    def decorate(function: F) -> Any:
        _require_declared_positionals(function, options.get("positional", ()))

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Expected as error:
                ui.error(f"Error: {failure_message(error)}")
                raise Exit(code=1) from None

        return task(**options)(run)

    return decorate


def _require_declared_positionals(function: Callable[..., Any], positional: Collection[str]) -> None:
    """invoke fills a parameter without a default from the words after the task name; only the parameters a task
    declares `positional` may lack one, so that an option can never take the next word as its value by accident
    (a required `stage` once ran `invoke deploy --help` with the stage '--help')."""
    undeclared = [
        name
        for name, parameter in list(inspect.signature(function).parameters.items())[1:]
        if parameter.default is inspect.Parameter.empty and name not in positional
    ]
    if undeclared:
        raise TypeError(
            f"Task {function.__name__}: give {', '.join(undeclared)} a default, or declare it positional."
        )


HELP_FLAGS = ("--help", "-h")
_KIND_NAMES = {int: "a whole number", float: "a number"}


def teach_invoke_parser() -> None:
    """Two things invoke's parser does not do for positional arguments, taught once (tasks.py calls this before
    invoke parses the task's words):

    - `--help` / `-h` after a task asks for its help even while the task still waits for a positional argument
      (invoke would take the flag as the argument's value and run the task: `invoke debug --help`);
    - a positional argument the task also declares `optional` may be left out (`invoke snapshot list`); the task
      then gets "";
    - an option's value that is not of its type (`--requests abc`) is one line and exit code 1, not a traceback.
    """
    from invoke.parser.parser import ParseMachine

    if getattr(ParseMachine, "_devkit_taught", False):
        return
    handle, complete_context = ParseMachine.handle, ParseMachine.complete_context

    def handle_help_first(machine: ParseMachine, token: str) -> None:
        context = machine.context
        if token in HELP_FLAGS and context is not None and not machine.waiting_for_flag_value:
            # Placeholders, so the task's words parse; with --help the task never runs, its help is printed.
            for argument in context.missing_positional_args:
                argument.set_value("", cast=False)
        flag = machine.flag if machine.waiting_for_flag_value else None
        try:
            handle(machine, token)
        except ValueError:
            # invoke casts an option's value to its default's type and lets the ValueError out as a traceback.
            if flag is None or flag.kind is None:
                raise
            machine.error(
                f"--{flag.name.replace('_', '-')} takes {_KIND_NAMES.get(flag.kind, flag.kind.__name__)}, not {token!r}."
            )

    def complete_without_optional(machine: ParseMachine) -> None:
        if machine.context is not None:
            for argument in machine.context.missing_positional_args:
                if argument.optional:
                    argument.set_value("", cast=False)
        complete_context(machine)

    ParseMachine.handle = handle_help_first  # type: ignore[method-assign, assignment]
    ParseMachine.complete_context = complete_without_optional  # type: ignore[method-assign, assignment]
    ParseMachine._devkit_taught = True


say = ui.say


def engine_named(name: str, port: int = 0) -> Engine:
    return get_engine(name, port=port or None)


def running(target: str) -> Engine:
    """The engine, which must be running when it is a local one; a ToolingError says how to start it."""
    from devkit.core.project import EMULATORS

    engine = engine_named(target)
    if target in EMULATORS and not engine.status().running:
        raise ToolingError(f"The {target} engine is not running: start it with `invoke up`.")
    return engine


def deployed(target: str, stage: str) -> tuple[Engine, dict[str, Any]]:
    """The engine and the reachable outputs of the stage's stack; a ToolingError says what to do."""
    from devkit.stack.outputs import reachable_outputs

    engine = engine_named(target)
    return engine, reachable_outputs(engine, check_stage(stage))


def confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        raise Exit(f"{question} Needs confirmation, and there is no terminal to ask: pass --yes.", code=1)
    return input(f"{question} Type 'yes' to continue: ").strip() == "yes"
