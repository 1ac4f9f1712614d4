"""AWS SAM CLI, run as an isolated tool: its boto3 pin and MiniStack's botocore pin cannot share one environment."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from devkit.core.project import ROOT, TEMPLATE, ToolingError
from devkit.core.template import dump_template, load_template, with_parameter_defaults

SAM_VERSION = "1.170.0"
# `sam build` builds with the interpreter of the template's runtime, which must be on PATH.
RUNTIME_PYTHON = "3.13"
BUILD_DIR = ROOT / ".aws-sam" / "build"
CONFIG = ROOT / "samconfig.toml"


def _runtime_python_dir() -> Path:
    candidates = [shutil.which(f"python{RUNTIME_PYTHON}")]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(
        glob.glob(f"{pyenv_root}/versions/{RUNTIME_PYTHON}*/bin/python{RUNTIME_PYTHON}"), reverse=True
    )
    found = subprocess.run(
        ["uv", "python", "find", "--no-project", RUNTIME_PYTHON], capture_output=True, text=True, check=False
    )
    candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        # A pyenv shim exists even when that version is not selected; only a run proves it works.
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return Path(candidate).resolve().parent
    raise ToolingError(
        f"`sam build` needs Python {RUNTIME_PYTHON} (the functions' runtime) and none was found: "
        f"install it (`uv python install {RUNTIME_PYTHON}` or `pyenv install {RUNTIME_PYTHON}`)."
    )


def sam(*arguments: str, endpoint_url: str | None = None, check: bool = True) -> int:
    """Run `sam` with the runtime's Python on PATH; `endpoint_url` points it at an emulator."""
    if shutil.which("uvx") is None:
        raise ToolingError(
            "`uvx` (part of uv) is needed to run the SAM CLI: install uv, https://docs.astral.sh/uv/."
        )
    env = {**os.environ, "PATH": f"{_runtime_python_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
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


def delete(stack: str) -> None:
    sam("delete", "--config-file", str(CONFIG), "--stack-name", stack, "--no-prompts")
