"""The engines a stack runs on, behind one small interface: MiniStack (embedded), LocalStack (Docker) and AWS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from devkit.core.project import ENGINES, ToolingError

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class EngineStatus:
    engine: str
    running: bool
    endpoint_url: str | None
    detail: str


class Engine(Protocol):
    name: str
    # Emulators run the handlers from the zip as-is (MiniStack) or in a bare runtime image (LocalStack); AWS gets
    # `sam build`, which installs handlers/requirements.txt itself.
    bundles_dependencies: bool

    def endpoint_url(self) -> str | None: ...

    def session(self) -> boto3.Session: ...

    def client(self, service: str) -> Any: ...

    def start(self, *, fresh: bool = False) -> None: ...

    def stop(self, *, purge: bool = False) -> None: ...

    def status(self) -> EngineStatus: ...

    def log_file(self) -> Path | None: ...

    def reachable_url(self, url: str) -> str:
        """The URL a program on this host uses to reach what the stack reports as `url`."""
        ...

    def stage_parameters(self) -> dict[str, str]:
        """Template parameters this engine needs on top of the stage's own."""
        ...

    def after_deploy(self, stack_name: str) -> None:
        """Work around the engine's known gaps once a stack is deployed."""
        ...


def get_engine(name: str, *, port: int | None = None, state_dir: Path | None = None) -> Engine:
    """The engine called `name`; `port` and `state_dir` let the test task run a private MiniStack."""
    if name == "ministack":
        from devkit.engines.ministack import MiniStack

        return MiniStack.create(port=port, state_dir=state_dir)
    if name == "localstack":
        from devkit.engines.localstack import LocalStack

        return LocalStack.create(port=port)
    if name == "aws":
        from devkit.engines.aws import Aws

        return Aws()
    raise ToolingError(f"Unknown engine {name!r}: choose one of {', '.join(ENGINES)}.")


def engine_from_outputs(outputs: dict[str, str]) -> Engine:
    """The engine that `invoke outputs --json` described, so tests and scripts need nothing but that file."""
    endpoint = outputs.get("EndpointUrl")
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0]) if endpoint else None
    return get_engine(outputs["Engine"], port=port)
