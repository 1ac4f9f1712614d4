"""AWS SAM CLI, run as an isolated tool: its boto3 pin and MiniStack's botocore pin cannot share one environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devkit.core.project import ROOT, TEMPLATE, ToolingError
from devkit.core.runtime import find_interpreter, template_runtimes
from devkit.core.template import dump_template, load_template, with_parameter_defaults
from devkit.delivery import versions

SAM_VERSION = "1.170.0"
BUILD_DIR = ROOT / ".aws-sam" / "build"
CONFIG = ROOT / "samconfig.toml"


def _runtime_python_dirs() -> list[str]:
    """`sam build` builds with the interpreter of each function's runtime, which must be on PATH."""
    return [str(find_interpreter(runtime).path.resolve().parent) for runtime in sorted(template_runtimes())]


def sam(*arguments: str, endpoint_url: str | None = None, check: bool = True) -> int:
    """Run `sam` with the runtime's Python on PATH; `endpoint_url` points it at an emulator."""
    if shutil.which("uvx") is None:
        raise ToolingError(
            "`uvx` (part of uv) is needed to run the SAM CLI: install uv, https://docs.astral.sh/uv/."
        )
    env = {**os.environ, "PATH": os.pathsep.join([*_runtime_python_dirs(), os.environ.get("PATH", "")])}
    env["SAM_CLI_TELEMETRY"] = "0"
    if endpoint_url:
        env.update(AWS_ENDPOINT_URL=endpoint_url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    command = ["uvx", "--from", f"aws-sam-cli=={SAM_VERSION}", "sam", *arguments]
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    if check and code != 0:
        raise ToolingError(f"`sam {' '.join(arguments)}` failed (exit {code}); its output above says why.")
    return code


def build() -> None:
    sam("build", "--template", str(TEMPLATE), "--build-dir", str(BUILD_DIR), "--cached")


def deploy(
    stage: str,
    *,
    dry_run: bool,
    assume_yes: bool,
    parameters: dict[str, str] | None = None,
    endpoint_url: str | None = None,
    extra: Sequence[str] = (),
) -> None:
    """`sam deploy` of the built template with the stage's samconfig environment (to an emulator with `endpoint_url`).

    `parameters` replace the samconfig environment's parameter_overrides as a whole, as `sam` does.
    """
    # samconfig.toml is looked up beside the template, which here is the built one: name it explicitly.
    arguments = ["deploy", "--config-file", str(CONFIG), "--config-env", stage]
    arguments += ["--template-file", str(_template_for(endpoint_url, parameters))]
    if parameters:
        arguments += ["--parameter-overrides", *(f"{key}={value}" for key, value in parameters.items())]
    arguments += extra
    if dry_run:
        arguments.append("--no-execute-changeset")
    elif assume_yes:
        arguments.append("--no-confirm-changeset")
    sam(*arguments, endpoint_url=endpoint_url)


def _template_for(endpoint_url: str | None, parameters: dict[str, str] | None) -> Path:
    """The built template; for an emulator, a copy beside it whose parameter defaults are the given values,
    because MiniStack's SAM transform sees only the defaults (see devkit.core.template.with_parameter_defaults)."""
    built = BUILD_DIR / "template.yaml"
    if not endpoint_url or not parameters:
        return built
    emulator_copy = BUILD_DIR / "template-emulator.json"
    emulator_copy.write_text(dump_template(with_parameter_defaults(load_template(built), parameters)))
    return emulator_copy


def version_parameters(cloudformation: Any, stack: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """The functions' version keys for a `sam deploy` of the built template with `overrides`: each function's
    code is the folder `sam build` made for it, and a parameter not overridden keeps the stack's current value."""
    template = load_template(BUILD_DIR / "template.yaml")
    digests = {}
    for function_id in versions.version_parameter_names(template):
        folder = BUILD_DIR / str(template["Resources"][function_id]["Properties"].get("CodeUri", function_id))
        if not folder.is_dir():
            raise ToolingError(
                f"`sam build` left no code for {function_id} in {folder}: run `invoke deploy` again."
            )
        digests[function_id] = versions.directory_digest(folder)
    previous = versions.stack_parameter_values(cloudformation, stack)
    return versions.version_keys(template, overrides, digests, previous=previous)


def delete(stack: str) -> None:
    sam("delete", "--config-file", str(CONFIG), "--stack-name", stack, "--no-prompts")
