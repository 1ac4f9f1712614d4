"""The functions' runtime on this machine: which Python the template asks for, how it is found, and when the
workers' dependency set must be rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.core.project import ToolingError
from devkit.core.runtime import Interpreter, bundle_key, find_interpreter, python_version, template_runtimes


def test_the_template_runs_every_function_on_one_python_runtime() -> None:
    runtimes = template_runtimes()
    assert len(runtimes) == 1
    assert python_version(runtimes.pop()).startswith("3.")


def test_a_function_naming_its_own_runtime_overrides_the_globals() -> None:
    template = {
        "Globals": {"Function": {"Runtime": "python3.13"}},
        "Resources": {
            "A": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "B": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    }
    assert template_runtimes(template) == {"python3.13", "python3.12"}


def test_a_runtime_other_than_python_is_refused_in_one_line() -> None:
    with pytest.raises(ToolingError, match="not a Python runtime"):
        python_version("nodejs20.x")


def test_no_interpreter_of_the_runtimes_version_is_one_line_that_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a machine with no Python 3.13 on PATH, none in pyenv and no uv
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    # When the runtime's interpreter is looked for, then the error names both ways to install it
    with pytest.raises(ToolingError) as missing:
        find_interpreter("python3.13")
    message = str(missing.value)
    assert "\n" not in message
    assert "`pyenv install 3.13`" in message
    assert "`uv python install 3.13`" in message


def test_the_dependency_set_is_rebuilt_when_the_lock_or_the_interpreter_changes() -> None:
    python = Interpreter(Path("/usr/bin/python3.13"), "3.13", "3.13.0", "x86_64")
    key = bundle_key(b"boto3==1.0\n", python)
    assert bundle_key(b"boto3==1.0\n", python) == key
    assert bundle_key(b"boto3==1.1\n", python) != key
    assert bundle_key(b"boto3==1.0\n", Interpreter(python.path, "3.13", "3.13.1", "x86_64")) != key
    assert bundle_key(b"boto3==1.0\n", Interpreter(python.path, "3.13", "3.13.0", "aarch64")) != key
