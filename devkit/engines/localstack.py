"""LocalStack through docker-compose.yml, for users with a Docker engine.

It runs each Lambda in a container of the function's runtime image, so the code bundle carries the handlers'
dependencies. Everything after `start` (deploy, outputs, tests) is the code path MiniStack uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.core.project import ROOT, ToolingError
from devkit.core.waiting import DeadlineExceeded, wait_for
from devkit.engines import EngineStatus
from devkit.engines.emulator import Emulator

COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICE = "localstack"
DEFAULT_PORT = 4566
START_TIMEOUT = 120.0
# LocalStack's API coverage pages: "Cognito User Pools API ... available starting with the Base plan"
# (docs.localstack.cloud/api-coverage/v1/services/cognito-idp). The stack has no variant without authentication.
COGNITO_SERVICE = "cognito-idp"
COGNITO_PLAN_MESSAGE = (
    "LocalStack reports no Cognito User Pools (cognito-idp), which the stack needs for its API authentication: "
    "LocalStack offers it from the Base plan up, not on the free Hobby plan. Set LOCALSTACK_AUTH_TOKEN to a token "
    "of a Base (or higher) plan and make sure SERVICES includes cognito-idp, or use the default engine, which "
    "has it: `invoke up`."
)
_SERVICE_UP = frozenset({"available", "running"})


def _docker_client() -> Any:
    """A client of a daemon that answers, or a ToolingError that says what to do instead."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as error:  # pragma: no cover - docker is a project dependency
        raise ToolingError("The `docker` Python package is missing: run `uv sync`.") from error
    try:
        client = docker.from_env()
        client.ping()
    except DockerException:
        raise ToolingError(
            "No Docker engine is running, and LocalStack needs one. Start Docker, or use the default engine, "
            "which needs no Docker: `invoke up` (or `invoke up --target ministack`)."
        ) from None
    return client


@dataclass
class LocalStack(Emulator):
    name: str = "localstack"
    bundles_dependencies: bool = True
    cognito_path_prefix = "/_aws/cognito-idp"

    @classmethod
    def create(cls, *, port: int | None = None) -> LocalStack:
        return cls(port=port or int(os.environ.get("LOCALSTACK_PORT", DEFAULT_PORT)))

    def log_file(self) -> Path | None:
        return None  # `docker compose logs localstack` shows it; `invoke logs` runs that.

    def _compose(self, *arguments: str) -> None:
        if shutil.which("docker") is None:
            raise ToolingError(
                "The `docker` command is not installed; LocalStack runs through Docker Compose."
            )
        env = {**os.environ, "LOCALSTACK_PORT": str(self.port)}
        command = ["docker", "compose", "-f", str(COMPOSE_FILE), *arguments]
        result = subprocess.run(command, env=env, cwd=ROOT, check=False)
        if result.returncode != 0:
            raise ToolingError(f"`{' '.join(command)}` failed (exit {result.returncode}).")

    def _container(self) -> Any | None:
        client = _docker_client()
        found = client.containers.list(all=True, filters={"label": f"com.docker.compose.service={SERVICE}"})
        return found[0] if found else None

    def is_ready(self) -> bool:
        health = self.answers("/_localstack/health")
        if not health:
            return False
        states = health.get("services", {})
        needed = ("cloudformation", "lambda", "apigateway", "sqs", "dynamodb", "s3", "iam")
        return all(states.get(service) in _SERVICE_UP for service in needed)

    def require_cognito(self) -> None:
        """Fail before any deploy when this LocalStack cannot serve Cognito, rather than deploy half a stack."""
        health = self.answers("/_localstack/health") or {}
        if health.get("services", {}).get(COGNITO_SERVICE) not in _SERVICE_UP:
            raise ToolingError(COGNITO_PLAN_MESSAGE)

    def start(self, *, fresh: bool = False) -> None:
        if self.is_ready() and not fresh:
            # Ours from an earlier `up`, or one the user or CI runs (a service container): deploy to it.
            self.require_cognito()
            return
        _docker_client()
        if fresh:
            self._compose("down", "--volumes")
        if not os.environ.get("LOCALSTACK_AUTH_TOKEN"):
            print("Note: LOCALSTACK_AUTH_TOKEN is not set; current LocalStack images need one (see README).")
        self._compose("up", "--detach", "--wait", SERVICE)
        try:
            wait_for(self.is_ready, timeout=START_TIMEOUT, interval=1.0, what="LocalStack to report healthy")
        except DeadlineExceeded as error:
            raise ToolingError(f"{error} See `docker compose logs {SERVICE}`.") from None
        self.require_cognito()

    def stop(self, *, purge: bool = False) -> None:
        self._compose("down", *(["--volumes"] if purge else []))

    def status(self) -> EngineStatus:
        container = self._container()
        if container is None:
            return EngineStatus(self.name, False, None, "no LocalStack container")
        health = container.attrs.get("State", {}).get("Health", {}).get("Status", "unknown")
        running = container.status == "running" and self.is_ready()
        detail = (
            f"container {container.name} {container.status}, health {health}, image {container.image.tags}"
        )
        return EngineStatus(self.name, running, self.endpoint_url() if running else None, detail)

    def after_deploy(self, stack_name: str) -> None:
        """LocalStack applies the CORS preflight and gateway responses itself."""
