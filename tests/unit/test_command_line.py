"""The command line behaves the way invoke users expect: every task answers --help, a wrong value is one line and
exit 1, short flags mean one thing everywhere, and one idea has one option name on every task."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
from invoke.collection import Collection
from invoke.parser.argument import Argument
from invoke.program import Program
from invoke.tasks import task

import tasks
from devkit.commands import HELP_FLAGS, command, name_tasks

# The delivery tasks work on real stages: their target is AWS unless told otherwise.
AWS_FIRST = {"deploy", "rollback", "bootstrap", "destroy"}


def _invoke(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `invoke ARGUMENTS` on this project's tasks, run in this process."""
    with pytest.raises(SystemExit) as exited:
        Program(namespace=tasks.ns, name="invoke", binary="invoke").run(["invoke", *arguments])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _arguments(namespace: Collection) -> Iterator[tuple[str, Argument]]:
    """(task path, argument) for every argument of every task the namespace holds."""
    for context in namespace.to_contexts():
        for argument in context.args.values():
            yield context.name or "", argument


def short_flag_clashes(namespace: Collection) -> list[str]:
    """Every short flag that is invoke's help flag, or that stands for two different options across tasks."""
    meanings: dict[str, set[str]] = defaultdict(set)
    for path, argument in _arguments(namespace):
        for short in (name for name in argument.names if len(name) == 1):
            meanings[short].add(argument.name or "")
            if f"-{short}" in HELP_FLAGS:
                meanings[short].add(f"help (in {path})")
    return [f"-{short}: {', '.join(sorted(names))}" for short, names in meanings.items() if len(names) > 1]


def test_every_task_answers_help_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    # Given every task the project lists, namespaced ones included
    paths = sorted(tasks.ns.task_names)
    assert {"up", "deploy", "test", "snapshot.save", "consumer.create", "debug.off"} <= set(paths)

    for path in paths:
        # When its help is asked for after the task's name
        code, out, err = _invoke(capsys, path, "--help")

        # Then it prints the task's usage and succeeds, with no error from running it
        assert (code, err) == (0, ""), f"invoke {path} --help: exit {code}, stderr {err!r}"
        assert f"Usage: invoke [--core-opts] {path}" in out, out
        # And every option has its help text, however often the task's arguments were built before
        options = out.split("Options:")[1].strip().splitlines() if "Options:" in out else []
        flags = [line for line in options if line.startswith("  -")]
        assert all(re.search(r"\S\s{2,}\S", line.strip()) for line in flags), out


def test_help_wins_where_a_positional_word_is_expected() -> None:
    # Given a task whose first word is a required positional argument
    received: list[str] = []

    @command(positional=["name"])
    def probe(c: object, name: str) -> None:
        received.append(name)

    namespace = name_tasks(Collection(probe))

    # When --help comes in its place, Then the task does not run and the help printing ends the process cleanly
    with pytest.raises(SystemExit) as exited:
        Program(namespace=namespace, name="invoke", binary="invoke").run(["invoke", "probe", "--help"])
    assert exited.value.code in (0, None)
    assert received == []


def test_an_option_value_of_the_wrong_type_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # When a whole-number option is given a word
    code, out, err = _invoke(capsys, "bench", "--requests", "lots")

    # Then invoke says which option wants what, in one line, and nothing ran
    assert (code, out) == (1, "")
    assert err.strip() == "--requests takes a whole number, not 'lots'."


def test_a_missing_positional_word_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _invoke(capsys, "snapshot.save")
    assert (code, out) == (1, "")
    assert "did not receive required positional arguments: 'name'" in err


def test_a_missing_stage_is_one_line_saying_what_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("deploy", "destroy", "rollback", "bootstrap"):
        code, _, err = _invoke(capsys, name)
        assert (code, err.strip()) == (1, "Error: No stage given: pass --stage (dev, qa, staging, prod).")


def test_a_namespace_alone_runs_its_default_action(capsys: pytest.CaptureFixture[str]) -> None:
    names = json.loads(_invoke(capsys, "--list", "--list-format=json")[1])
    defaults = {collection["name"]: collection["default"] for collection in names["collections"]}
    assert defaults == {"snapshot": "list", "consumer": "list", "debug": "on"}


def test_no_short_flag_is_help_or_means_two_things() -> None:
    assert short_flag_clashes(tasks.ns) == []


def test_the_clash_check_finds_a_planted_clash() -> None:
    # Given tasks whose short flags invoke picks itself, as it does by default
    @task
    def first(c: object, host: str = "", target: str = "") -> None: ...

    @task
    def second(c: object, tombstones: int = 0) -> None: ...

    # Then -h (help) and -t (target here, tombstones there) are both reported
    clashes = short_flag_clashes(Collection(first, second))
    assert sorted(clash.split(":")[0] for clash in clashes) == ["-h", "-t"]


def test_one_idea_has_one_option_name_and_type_everywhere() -> None:
    seen = 0
    for path, argument in _arguments(tasks.ns):
        seen += 1
        where = f"invoke {path} --{argument.name}"
        assert argument.name != "engine", f"{where}: the engine is --target"
        if argument.name in ("json", "yes", "dry_run", "follow"):
            assert argument.kind is bool, f"{where} is a flag"
        if argument.name == "port":
            assert argument.kind is int, f"{where} is a whole number"
        if argument.name == "target":
            local_first = path.split(".")[-1] not in AWS_FIRST
            assert argument.default == ("ministack" if local_first else "aws"), where
        # A value option shows its type in the help (invoke shows INT or STRING, nothing for other kinds).
        assert argument.kind in (bool, int, str), f"{where}: {argument.kind}"
    assert seen > 50
