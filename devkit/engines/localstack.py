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
TOKEN_VARIABLE = "LOCALSTACK_AUTH_TOKEN"
# Every LocalStack image since 2026.03 (calendar versions, YYYY.MM.patch) is one image that activates a license
# with an auth token at start, and exits without one; the plan behind the token decides which services it serves.
TOKEN_MESSAGE = (
    f"LocalStack needs {TOKEN_VARIABLE} (its images since 2026.03 start only with one): export a token of a "
    "Base plan or higher (Cognito and WebSocket APIs) from https://app.localstack.cloud, or use the default "
    "engine, which needs none: `invoke up`."
)
# What the stack needs beyond LocalStack's free services, and why: LocalStack serves both from its Base plan up
# (docs.localstack.cloud: API Gateway "V2 (HTTP, Management and WebSocket API) in the Base plan"; Cognito User
# Pools "available starting with the Base plan").
PLAN_SERVICES = {
    "cognito-idp": "Cognito User Pools, the API's authentication",
    "apigatewayv2": "WebSocket APIs, the change notifications",
}
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

    def require_plan(self) -> None:
        """Fail before any deploy, in one line, when this LocalStack's license or plan cannot serve the stack,
        rather than deploy half a stack; LocalStack's own /_localstack/info and /_localstack/health say so."""
        info = self.answers("/_localstack/info") or {}
        health = self.answers("/_localstack/health") or {}
        version = info.get("version") or health.get("version") or "(version unknown)"
        edition = info.get("edition") or health.get("edition") or "unknown"
        if info.get("is_license_activated") is False:
            raise ToolingError(
                f"LocalStack {version} (edition {edition}) runs without an activated license: {TOKEN_VARIABLE} "
                "was not passed to it or was refused; check the token at https://app.localstack.cloud and "
                "restart it (`invoke down --target localstack`, then `invoke up --target localstack`)."
            )
        states = health.get("services", {})
        missing = [service for service in PLAN_SERVICES if states.get(service) not in _SERVICE_UP]
        if missing:
            named = "; ".join(
                f"{service} ({PLAN_SERVICES[service]}: {states.get(service, 'not listed')})"
                for service in missing
            )
            raise ToolingError(
                f"LocalStack {version} (edition {edition}) does not serve {named}: its plan lacks them. Use a "
                f"token of a Base plan or higher, with SERVICES including {','.join(PLAN_SERVICES)}, or the "
                "default engine, which has them: `invoke up`."
            )

    def start(self, *, fresh: bool = False) -> None:
        if self.is_ready() and not fresh:
            # Ours from an earlier `up`, or one the user or CI runs (a service container): deploy to it.
            self.require_plan()
            return
        # Before Docker is asked for anything: compose would pull an image that cannot start without it.
        if not os.environ.get(TOKEN_VARIABLE):
            raise ToolingError(TOKEN_MESSAGE)
        _docker_client()
        if fresh:
            self._compose("down", "--volumes")
        self._compose("up", "--detach", "--wait", SERVICE)
        try:
            wait_for(self.is_ready, timeout=START_TIMEOUT, interval=1.0, what="LocalStack to report healthy")
        except DeadlineExceeded as error:
            raise ToolingError(f"{error} See `docker compose logs {SERVICE}`.") from None
        self.require_plan()

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
