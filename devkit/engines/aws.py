"""Real AWS: the default credential chain (profile, SSO, environment, instance role); nothing to start or stop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from devkit.core.project import ToolingError
from devkit.engines import EngineStatus


@dataclass
class Aws:
    name: str = "aws"
    bundles_dependencies: bool = True

    def endpoint_url(self) -> str | None:
        return None

    def session(self) -> boto3.Session:
        return boto3.Session()

    def client(self, service: str) -> Any:
        return self.session().client(service)  # type: ignore[call-overload]

    def start(self, *, fresh: bool = False) -> None:
        """Nothing to start; only check that the credentials work, before a long build."""
        state = self.status()
        if not state.running:
            raise ToolingError(
                f"AWS: {state.detail}. Run `aws configure` or `aws sso login`, or set AWS_PROFILE and AWS_DEFAULT_REGION."
            )

    def stop(self, *, purge: bool = False) -> None:
        """Nothing to stop; remove stacks with `invoke destroy`."""

    def status(self) -> EngineStatus:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            identity = self.client("sts").get_caller_identity()
        except (BotoCoreError, ClientError) as error:
            return EngineStatus(self.name, False, None, f"no usable credentials ({error})")
        region = self.session().region_name or "no region set"
        return EngineStatus(
            self.name, True, None, f"account {identity['Account']} as {identity['Arn']} in {region}"
        )

    def log_file(self) -> Path | None:
        return None

    def reachable_url(self, url: str) -> str:
        return url

    def stage_parameters(self) -> dict[str, str]:
        return {}

    def after_deploy(self, stack_name: str) -> None:
        """AWS needs no work-arounds."""
