"""The functions' Lambda runtime on this machine: the template's `Runtime`, the Python interpreter of that version
(found as `sam build` needs it: on PATH, from pyenv, or known to uv), and the handlers' locked dependency set
installed for that interpreter, which is what the local workers import besides handlers/.

The dependency set is declared once, in handlers/pyproject.toml, locked in uv.lock, and exported to
handlers/requirements.txt (`EXPORT_COMMAND`), the file `sam build` installs from. Local workers install the same
file, so a package the bundle lacks is missing locally too.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from devkit.core.project import HANDLERS, ROOT, TEMPLATE, ToolingError
from devkit.core.template import load_template

HANDLERS_PROJECT: Final = "product-purchase-handlers"
REQUIREMENTS: Final = HANDLERS / "requirements.txt"
# The command that writes handlers/requirements.txt from uv.lock: every transitive package pinned, with hashes.
EXPORT_ARGUMENTS: Final = (
    "uv", "export", "--locked", "--package", HANDLERS_PROJECT, "--no-dev", "--no-emit-project",
)  # fmt: skip
EXPORT_COMMAND: Final = (*EXPORT_ARGUMENTS, "-o", "handlers/requirements.txt")
# A build cache keyed by content, shared by every engine of this checkout (also those with their own LOCAL dir).
BUNDLES: Final = ROOT / ".local" / "bundles"
# Isolated (-I: no PYTHON* variables, no user site, no script folder) and without `site` (-S: not even the
# interpreter's own site-packages): the worker's import path is the standard library, the dependency set and
# the code folder MiniStack inserts, as on Lambda, where only /var/task and the runtime's folders are on it.
WORKER_FLAGS: Final = ("-I", "-S")
_PROBE = (
    "import platform, sys; print('%d.%d' % sys.version_info[:2], sys.version.split()[0], platform.machine())"
)


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # "3.13"
    full_version: str  # "3.13.0"
    machine: str  # "x86_64"


@dataclass(frozen=True)
class WorkerRuntime:
    """How a local worker of `runtime` runs: `launcher` (the interpreter with WORKER_FLAGS) and `packages`, the
    folder of the locked dependency set to put on its import path."""

    runtime: str
    interpreter: Interpreter
    launcher: Path
    packages: Path

    def as_json(self) -> dict[str, str]:
        return {
            "python": str(self.launcher),
            "packages": str(self.packages),
            "version": self.interpreter.version,
        }


def template_runtimes(template: dict[str, Any] | None = None) -> set[str]:
    """Every function's `Runtime` in the template (the Globals' when a function names none)."""
    document = template if template is not None else load_template(TEMPLATE)
    default = document.get("Globals", {}).get("Function", {}).get("Runtime")
    runtimes = {
        resource.get("Properties", {}).get("Runtime", default)
        for resource in document.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    return {runtime for runtime in runtimes if isinstance(runtime, str)}


def python_version(runtime: str) -> str:
    """ "python3.13" -> "3.13"."""
    if not runtime.startswith("python") or not runtime[len("python") :].replace(".", "").isdigit():
        raise ToolingError(
            f"Runtime {runtime!r} is not a Python runtime: the local engines run Python functions."
        )
    return runtime[len("python") :]


def _candidates(version: str) -> list[str]:
    """`python3.13` on PATH first (where `sam build` looks), then pyenv's installs (a pyenv shim on PATH works only
    when that version is selected), newest first."""
    found = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    return [candidate for candidate in found if candidate]


def _uv_found(version: str) -> str | None:
    """An interpreter uv knows (its own installs or any it discovers); asked only when the others fail."""
    if shutil.which("uv") is None:
        return None
    found = subprocess.run(
        ["uv", "python", "find", "--no-project", version], capture_output=True, text=True, check=False
    )
    path = found.stdout.strip()
    return path if found.returncode == 0 and path else None


def _probe(candidate: str) -> Interpreter | None:
    try:
        ran = subprocess.run(
            [candidate, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    parts = ran.stdout.split()
    if ran.returncode != 0 or len(parts) != 3:
        return None
    return Interpreter(Path(candidate), parts[0], parts[1], parts[2])


def find_interpreter(runtime: str) -> Interpreter:
    """The interpreter of the runtime's Python version; a ToolingError says how to install it when there is none."""
    version = python_version(runtime)
    for candidate in _candidates(version):
        interpreter = _probe(candidate)
        if interpreter is not None and interpreter.version == version:
            return interpreter
    from_uv = _uv_found(version)
    interpreter = _probe(from_uv) if from_uv else None
    if interpreter is not None and interpreter.version == version:
        return interpreter
    raise ToolingError(
        f"The functions run on {runtime} and no Python {version} was found (on PATH, in pyenv or known to uv): "
        f"install it (`pyenv install {version}` or `uv python install {version}`) and run this again."
    )


def export_command() -> str:
    return shlex.join(EXPORT_COMMAND)


def bundle_key(requirements: bytes, interpreter: Interpreter) -> str:
    """Changes with the exported lock and with the interpreter the packages are installed for."""
    digest = hashlib.sha256(requirements)
    digest.update(f"{interpreter.full_version} {interpreter.machine}".encode())
    return digest.hexdigest()[:16]


def _install(interpreter: Interpreter, target: Path, arguments: list[str], what: str) -> None:
    """`uv pip install` for the interpreter into `target` (byte-compiled for it), or a ToolingError."""
    command = [
        "uv", "pip", "install", "--quiet", "--python", str(interpreter.path), "--target", str(target),
        "--compile-bytecode", *arguments,
    ]  # fmt: skip
    installed = subprocess.run(command, capture_output=True, text=True, check=False)
    if installed.returncode != 0:
        raise ToolingError(
            f"Could not install {what} for Python {interpreter.full_version}: "
            f"{installed.stderr.strip() or installed.stdout.strip()}"
        )


def _publish(partial: Path, folder: Path) -> None:
    try:
        partial.rename(folder)
    except OSError:  # another `up` built the same folder meanwhile: its copy is as good
        shutil.rmtree(partial, ignore_errors=True)


def debugger_packages(runtime: str, *, bundles: Path = BUNDLES) -> Path:
    """A folder holding only debugpy (the version the development lock pins) for the runtime's interpreter: added
    to a debugged worker's import path, never to the bundle."""
    interpreter = find_interpreter(runtime)
    version = metadata.version("debugpy")
    folder = bundles / f"debugpy-{version}-{interpreter.full_version}-{interpreter.machine}"
    if folder.is_dir():
        return folder
    partial = bundles / f"{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _install(interpreter, partial, [f"debugpy=={version}"], "debugpy")
    except ToolingError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _publish(partial, folder)
    return folder


def worker_runtime(
    runtime: str,
    *,
    requirements: Path = REQUIREMENTS,
    bundles: Path = BUNDLES,
    say: Callable[[str], None] = print,
) -> WorkerRuntime:
    """The runtime's interpreter and the requirements installed for it, built once per (requirements,
    interpreter) and byte-compiled then, so that no worker's cold start compiles them."""
    interpreter = find_interpreter(runtime)
    if not requirements.is_file():
        raise ToolingError(f"{requirements} is missing: write it with `{export_command()}`.")
    key = bundle_key(requirements.read_bytes(), interpreter)
    folder = bundles / key
    result = WorkerRuntime(runtime, interpreter, folder / "python", folder / "packages")
    if result.launcher.is_file():
        return result
    say(
        f"Installing the handlers' dependencies for Python {interpreter.full_version} into {folder} (once) ..."
    )
    partial = bundles / f"{key}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        # Exactly the exported pins (every transitive package listed, each checked against its hash).
        _install(
            interpreter,
            partial / "packages",
            ["--no-deps", "--require-hashes", "-r", str(requirements)],
            requirements.name,
        )
    except ToolingError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    launcher = partial / "python"
    launcher.write_text(
        f'#!/bin/sh\nexec {shlex.quote(str(interpreter.path))} {" ".join(WORKER_FLAGS)} "$@"\n'
    )
    launcher.chmod(0o755)
    _publish(partial, folder)
    return result
