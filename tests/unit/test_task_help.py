"""`invoke <task> --help` prints the task's help, and nothing runs, for every task `invoke --list` shows."""

from __future__ import annotations

import json

import pytest
from invoke.program import Program

import tasks


def _invoke(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `invoke ARGUMENTS` on this project's tasks, run in this process."""
    with pytest.raises(SystemExit) as exited:
        Program(namespace=tasks.ns, name="invoke", binary="invoke").run(["invoke", *arguments])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _listed_tasks(capsys: pytest.CaptureFixture[str]) -> list[str]:
    code, out, _ = _invoke(capsys, "--list", "--list-format=json")
    assert code == 0
    return [listed["name"] for listed in json.loads(out)["tasks"]]


def test_every_listed_task_answers_help_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    # Given every task the project lists
    names = _listed_tasks(capsys)
    assert {"up", "deploy", "destroy", "rollback", "bootstrap", "test"} <= set(names)

    for name in names:
        # When its help is asked for
        code, out, err = _invoke(capsys, name, "--help")

        # Then it prints the task's usage and succeeds, with no error from running it
        assert (code, err) == (0, ""), f"invoke {name} --help: exit {code}, stderr {err!r}"
        assert f"Usage: invoke [--core-opts] {name}" in out, out


def test_a_missing_stage_is_one_line_saying_what_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("deploy", "destroy", "rollback", "bootstrap"):
        code, _, err = _invoke(capsys, name)
        assert (code, err.strip()) == (1, "Error: No stage given: pass --stage (dev, qa, staging, prod).")


def _words_parsed_by(*words: str) -> dict[str, object]:
    """What a task declared with a required and an optional positional argument receives for `invoke probe WORDS`."""
    from invoke.collection import Collection

    from devkit.commands import command

    received: dict[str, object] = {}

    @command(positional=["action", "name"], optional=["name"])
    def probe(c: object, action: str, name: str | None = None, flag: bool = False) -> None:
        received.update(action=action, name=name, flag=flag)

    try:
        Program(namespace=Collection(probe), name="invoke", binary="invoke").run(["invoke", "probe", *words])
    except SystemExit as exited:  # what printing a help ends with
        assert exited.code in (0, None)
    return received


def test_a_task_gets_both_positional_words() -> None:
    assert _words_parsed_by("save", "demo") == {"action": "save", "name": "demo", "flag": False}


def test_an_optional_positional_may_be_left_out() -> None:
    assert _words_parsed_by("list") == {"action": "list", "name": "", "flag": False}


def test_help_wins_over_a_positional_still_waiting_for_its_word(capsys: pytest.CaptureFixture[str]) -> None:
    # When --help comes where the task's first positional word is expected
    received = _words_parsed_by("--help")

    # Then the task does not run and its help is printed
    assert received == {}
    assert "Usage: invoke [--core-opts] probe" in capsys.readouterr().out


def test_an_option_value_of_the_wrong_type_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # When a whole-number option is given a word
    code, out, err = _invoke(capsys, "bench", "--requests", "lots")

    # Then invoke says which option wants what, in one line, and nothing ran
    assert (code, out) == (1, "")
    assert err.strip() == "--requests takes a whole number, not 'lots'."
