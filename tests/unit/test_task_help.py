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
