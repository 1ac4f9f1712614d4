"""Local workers run what `sam build` ships, on the runtime AWS runs: the template's Python, with only the code and
the locked dependency set (handlers/requirements.txt) on the import path. Each test deploys a throwaway function
to a private MiniStack, not the real handlers."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.core.project import ROOT
from devkit.core.runtime import REQUIREMENTS, python_version, template_runtimes, worker_runtime
from devkit.engines.ministack import MiniStack, free_port

# A package of the development environment (rich's dependency) that the Lambda bundle does not declare.
UNDECLARED = "pygments"
ROLE_NAME = "parity-test"
TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture(scope="module")
def runtime() -> str:
    (only,) = template_runtimes()
    return only


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniStack]:
    private = MiniStack(port=free_port(), state_dir=tmp_path_factory.mktemp("parity") / "ministack")
    private.state_dir.mkdir()
    try:
        private.start()
        private.client("iam").create_role(
            RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA)
        )
        yield private
    finally:
        private.stop(purge=True)


def _deploy(engine: MiniStack, runtime: str, source: str, *, timeout: int = 30) -> str:
    """A function whose handler module is `source`, on the template's runtime; its name."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as bundle:
        bundle.writestr("handler.py", source)
    name = f"parity-{uuid.uuid4().hex[:8]}"
    role = engine.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    lambda_client = engine.client("lambda")
    lambda_client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=timeout,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def _invoke(engine: MiniStack, name: str) -> tuple[str | None, Any]:
    """(the function error, or None; the payload)."""
    reply = engine.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    return reply.get("FunctionError"), json.loads(reply["Payload"].read() or b"null")


def _locked_requirement(package: str) -> str:
    """The package's pinned line and hashes as the development lock has them (what declaring it would export)."""
    exported = subprocess.run(
        ["uv", "export", "--locked", "--no-emit-workspace", "--no-header", "--no-annotate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = exported.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"{package}=="))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block) + "\n"


def test_a_worker_runs_on_the_templates_runtime_with_only_the_code_and_the_bundle_on_its_path(
    engine: MiniStack, runtime: str
) -> None:
    # Given a function on the template's runtime that reports its interpreter and import path
    source = (
        "import sys\n"
        "def handler(event, context):\n"
        "    return {'version': list(sys.version_info[:2]), 'path': sys.path, 'prefix': sys.base_prefix}\n"
    )
    name = _deploy(engine, runtime, source)
    # When it is invoked
    error, payload = _invoke(engine, name)
    # Then it ran on the runtime's Python, not on the tooling's
    assert error is None, payload
    assert ".".join(map(str, payload["version"])) == python_version(runtime)
    # And its import path is the code folder, the locked dependency set and the interpreter's standard library only
    packages = str(worker_runtime(runtime).packages)
    code_dir, *rest = payload["path"]
    assert Path(code_dir).name == "code"
    assert rest[0] == packages
    standard_library = rest[1:]
    assert standard_library, payload["path"]
    assert all(entry.startswith(payload["prefix"]) for entry in standard_library), payload["path"]
    assert not any("site-packages" in entry or ".venv" in entry for entry in payload["path"]), payload["path"]


def test_an_import_the_bundle_lacks_fails_as_on_aws_until_the_dependency_is_declared(
    engine: MiniStack, runtime: str, tmp_path: Path
) -> None:
    # Given a handler that imports a package the development environment has and the bundle does not declare
    __import__(UNDECLARED)  # present here, so only the worker's isolation can make the function fail
    source = (
        f"import {UNDECLARED}\ndef handler(event, context):\n    return {{'module': {UNDECLARED}.__file__}}\n"
    )
    name = _deploy(engine, runtime, source)
    # When it is invoked, then its init fails with a function error, as on Lambda (Runtime.ImportModuleError)
    error, payload = _invoke(engine, name)
    assert error is not None, payload
    assert UNDECLARED in json.dumps(payload)

    # Given the dependency declared: the bundle's requirements plus the package's locked pin and hashes
    declared = tmp_path / "requirements.txt"
    declared.write_text(REQUIREMENTS.read_text() + _locked_requirement(UNDECLARED))
    prepared = worker_runtime(
        runtime, requirements=declared, bundles=tmp_path / "bundles", say=lambda _: None
    )
    engine.use_worker_runtimes({runtime: prepared.as_json()})
    try:
        # When it is invoked again, then it imports the package from the rebuilt dependency set
        error, payload = _invoke(engine, name)
        assert error is None, payload
        assert payload["module"].startswith(str(prepared.packages))
    finally:
        engine.use_worker_runtimes({runtime: worker_runtime(runtime).as_json()})


def test_an_invocation_that_outlasts_the_functions_timeout_ends_with_the_lambda_timeout_error(
    engine: MiniStack, runtime: str
) -> None:
    # Given a function with a 1 s timeout whose handler takes longer
    source = "import time\ndef handler(event, context):\n    time.sleep(5)\n    return 'finished'\n"
    name = _deploy(engine, runtime, source, timeout=1)
    # When it is invoked, then the invocation fails as on Lambda, instead of returning the late result
    error, payload = _invoke(engine, name)
    assert error == "Unhandled", payload
    assert payload == {"errorMessage": "Task timed out after 1.00 seconds", "errorType": "Sandbox.Timedout"}
