"""The handlers' code bundle, built the same way for every emulator deploy and every live code push."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from devkit.core.project import HANDLERS, LOCAL, ToolingError

_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
# Fixed timestamps make the zip, and therefore its hash, depend on the files' contents only.
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CodeBundle:
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def lambda_sha256(self) -> str:
        """The digest as Lambda reports `CodeSha256` (base64), to tell whether a function runs this bundle."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not _SKIPPED_PARTS.intersection(path.parts) and path.suffix != ".pyc"
    )


def handler_sources() -> list[Path]:
    return _files(HANDLERS)


def build_bundle(*, with_dependencies: bool, source: Path = HANDLERS) -> CodeBundle:
    """Zip handlers/ (or `source`); with `with_dependencies`, also the packages of handlers/requirements.txt
    (for LocalStack)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        roots = [source, *([_vendored_dependencies()] if with_dependencies else [])]
        for root in roots:
            for path in _files(root):
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, path.read_bytes())
    return CodeBundle(buffer.getvalue())


def _vendored_dependencies() -> Path:
    """handlers/requirements.txt installed for the Lambda runtime, cached by the requirements' hash."""
    requirements = HANDLERS / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = LOCAL / "build" / f"deps-{digest}"
    if target.is_dir():
        return target
    partial = target.with_suffix(".partial")
    command = [
        "uv", "pip", "install", "--quiet", "--target", str(partial), "--python-version", "3.13",
        "--python-platform", "x86_64-manylinux2014", "--only-binary", ":all:", "-r", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolingError(
            f"Could not install the handlers' dependencies for the Lambda runtime:\n{result.stderr}"
        )
    partial.rename(target)
    return target
