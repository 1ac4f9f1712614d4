"""`invoke iam-report` and `invoke cost` at the command line: a stopped engine or AWS is one line and exit code 1
for the report; the estimate works without an engine, saying that its function figures are assumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.program import Program

import tasks


def _invoke(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `invoke ARGUMENTS`, run in this process."""
    try:
        Program(namespace=tasks.ns, name="invoke", binary="invoke").run(["invoke", *arguments])
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No local engine has ever run: the engine's state folder is an empty one."""
    from devkit.engines import ministack

    original = ministack.MiniStack.create.__func__  # type: ignore[attr-defined]

    def create(cls: type, *, port: int | None = None, state_dir: Path | None = None) -> object:
        return original(cls, port=port, state_dir=state_dir or tmp_path / "ministack")

    monkeypatch.setattr(ministack.MiniStack, "create", classmethod(create))


def test_the_report_on_a_stopped_engine_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    code, out, err = _invoke(capsys, "iam-report")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "Error: The ministack engine is not running: start it with `invoke up`."
    ]


def test_the_report_on_aws_says_what_aws_offers_instead_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _invoke(capsys, "iam-report", "--target", "aws")
    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert "IAM Access Advisor" in line and "--target ministack" in line


def test_the_estimate_without_an_engine_uses_labelled_defaults(
    capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    code, out, err = _invoke(capsys, "cost", "--writes-per-month", "1000", "--json")
    assert code == 0
    estimate = json.loads(out)
    assert {measure["source"] for measure in estimate["functions"].values()} == {"assumed"}
    assert "assumed default" in err
    assert estimate["total"] > 0 and estimate["prices"]["date"]


def test_a_negative_traffic_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _invoke(capsys, "cost", "--connections", "-1")
    assert code == 1 and len(err.strip().splitlines()) == 1
