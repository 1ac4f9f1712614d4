"""The `invoke` command layer: each module holds the tasks of one area, thin over the rest of devkit.

`tasks.py` composes them into one collection: flat for single tasks, a namespace for an area with sub-actions
(`invoke snapshot.save NAME`). What the tasks share lives here: the decorator that turns a
failure the user can act on (a ToolingError, an AWS error, no engine, no credentials) into one clear line and exit
code 1 instead of a traceback, and the few lookups every area needs. Output goes through `devkit.core.ui`.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Collection
from typing import Any, Final, TypeVar

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError
from invoke.collection import Collection as InvokeCollection
from invoke.exceptions import Exit, ParseError, UnexpectedExit
from invoke.parser.argument import Argument
from invoke.program import Program
from invoke.tasks import Task, task

from devkit.core import ui
from devkit.core.project import ENGINES, STAGES, ToolingError, check_stage
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


# The only short flags, each with one meaning across every task; every other option is spelled out. `-h` stays
# invoke's own (help).
SHORT_FLAGS: Final = {"target": "t", "stage": "s"}
HELP_FLAGS: Final = ("--help", "-h")
_KIND_NAMES: Final = {int: "a whole number", float: "a number"}


class CheckedArgument(Argument):
    """An invoke argument that refuses a value of the wrong type in one line (invoke lets the cast's ValueError out
    as a traceback), and answers `invoke TASK --help` when the help flag comes where a positional word is
    expected (invoke would run the task with the word '--help')."""

    task_path = ""
    namespace: InvokeCollection | None = None

    def set_value(self, value: Any, cast: bool = True) -> None:
        if self.positional and value in HELP_FLAGS and self.namespace is not None:
            # The same help `invoke --help TASK` prints; printing it ends the process.
            Program(namespace=self.namespace, name="invoke", binary="invoke").run(
                ["invoke", "--help", self.task_path]
            )
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            kind = _KIND_NAMES.get(self.kind, getattr(self.kind, "__name__", str(self.kind)))
            raise ParseError(
                f"--{(self.name or '').replace('_', '-')} takes {kind}, not {value!r}."
            ) from None


class ProjectTask(Task):  # type: ignore[type-arg]
    """A task whose options get only the project's chosen short flags (`SHORT_FLAGS`), never invoke's automatic
    ones, and whose arguments are `CheckedArgument`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)
        # invoke hands each option its help by popping it from `self.help`; the arguments are built more than once
        # (listing, parsing, printing help), so every build starts from this copy.
        self.option_help = dict(self.help)

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS and name not in self.positional:
            opts["names"] = [*opts["names"], SHORT_FLAGS[name]]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        checked: list[Argument] = []
        self.help = dict(self.option_help)
        for plain in super().get_arguments(ignore_unknown_help):
            # invoke lists a positional argument among the options (it also takes it as one): say which it is.
            positional_note = (
                f"{(plain.name or '').upper()}, the word after the task: " if plain.positional else ""
            )
            argument = CheckedArgument(
                names=plain.names,
                kind=plain.kind,
                default=plain.default,
                help=positional_note + (plain.help or ""),
                positional=plain.positional,
                optional=plain.optional,
                incrementable=plain.incrementable,
                attr_name=plain.attr_name,
            )
            argument.task_path, argument.namespace = (
                getattr(self, "path", ""),
                getattr(self, "namespace", None),
            )
            checked.append(argument)
        return checked


def shared_help(function: Callable[..., Any]) -> dict[str, str]:
    """The help of the options that mean the same on every task (`--target`, `--stage`, `--json`), worded from the
    task's defaults, so a task states only what is its own."""
    parameters = inspect.signature(function).parameters
    shared: dict[str, str] = {}
    if "target" in parameters:
        default = parameters["target"].default
        shared["target"] = f"{default} (default), " + " or ".join(e for e in ENGINES if e != default)
    if "stage" in parameters:
        default = parameters["stage"].default
        shared["stage"] = f"stage: {', '.join(STAGES)} " + (
            f"(default {default})" if default else "(required)"
        )
    if "json_" in parameters:
        shared["json"] = "print JSON (for scripts) instead of a table"
    return shared


def command(**options: Any) -> Callable[[F], Any]:
    """`@task` whose expected failures (see `failure_message`) become one red line on stderr and exit code 1; the
    shared options get their help from `shared_help` unless the task words it itself."""

    def decorate(function: F) -> Any:
        _require_declared_positionals(function, options.get("positional", ()))
        options["help"] = {**shared_help(function), **options.get("help", {})}

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Expected as error:
                ui.error(f"Error: {failure_message(error)}")
                raise Exit(code=1) from None
            except UnexpectedExit as failed:
                # A tool the task ran (ruff, pytest, cfn-lint...) failed and has said why above; the task's own exit
                # code is 1 whatever the tool's was.
                ui.error(
                    f"Error: `{failed.result.command}` failed (exit code {failed.result.exited}); see above."
                )
                raise Exit(code=1) from None

        return task(klass=ProjectTask, **options)(run)

    return decorate


def name_tasks(namespace: InvokeCollection) -> InvokeCollection:
    """Tell every task of the namespace the path it is called by (`snapshot.save`) and the namespace, for its help."""
    for path in namespace.task_names:
        namespace[path].path, namespace[path].namespace = path, namespace
    return namespace


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
