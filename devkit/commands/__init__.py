"""The `invoke` command layer: each module holds the tasks of one area, thin over the rest of devkit.

`tasks.py` composes them into one flat collection. What the tasks share lives here: the decorator that turns a
failure the user can act on into one clear line and exit code 1, and the few lookups every area needs.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import task

from devkit.engines import Engine, get_engine
from devkit.project import ToolingError, check_stage

F = TypeVar("F", bound=Callable[..., Any])


def command(**options: Any) -> Callable[[F], Any]:
    """`@task` whose ToolingError (a failure the user can act on) becomes a clean message and exit code 1."""

    def decorate(function: F) -> Any:
        _require_defaults(function)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except ToolingError as error:
                raise Exit(f"Error: {error}", code=1) from None

        return task(**options)(run)

    return decorate


def _require_defaults(function: Callable[..., Any]) -> None:
    """invoke makes a parameter without a default positional, and a positional takes the next word even when it
    is `--help` (`invoke deploy --help` ran the task with stage '--help'): every option has a default, and the task
    says when a required one is missing."""
    positional = [
        name
        for name, parameter in list(inspect.signature(function).parameters.items())[1:]
        if parameter.default is inspect.Parameter.empty
    ]
    if positional:
        raise TypeError(
            f"Task {function.__name__}: give {', '.join(positional)} a default (see _require_defaults)."
        )


def say(message: str) -> None:
    print(message, flush=True)


def engine_named(name: str, port: int = 0) -> Engine:
    return get_engine(name, port=port or None)


def deployed(target: str, stage: str) -> tuple[Engine, dict[str, Any]]:
    """The engine and the reachable outputs of the stage's stack; a ToolingError says what to do."""
    from devkit.outputs import reachable_outputs

    engine = engine_named(target)
    return engine, reachable_outputs(engine, check_stage(stage))


def confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        raise Exit(f"{question} Needs confirmation, and there is no terminal to ask: pass --yes.", code=1)
    return input(f"{question} Type 'yes' to continue: ").strip() == "yes"
