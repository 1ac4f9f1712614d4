"""What the two emulators share: a loopback endpoint, throwaway credentials, URL rewriting, and the check that a
stack the emulator restored from its saved state still has its resources."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.core.project import EMULATOR_ACCESS_KEY, EMULATOR_REGION, ToolingError
from devkit.engines import Engine

# Local stages use a short writer timeout and visibility timeout so a poison message reaches the DLQ in seconds
# (3 receives x visibility), and tracing off because no X-Ray daemon listens. AWS's "visibility >= 6x timeout"
# covers its poller holding received messages while invokes are throttled; MiniStack's poller receives only when
# a concurrency slot is free, so a message is in flight for one invocation (<= WriterTimeout) and 3x is ample. MiniStack enforces the stage's
# throttle as API Gateway does; the production default (100 requests/s per method) would cap the local
# benchmark below what the engine sustains, so local stages get API Gateway's account-level limits instead.
# The writer needs about 1.25 s left to start a record (its table write at worst, see handlers/purchases/adapters/
# clients.py), so 4 s leaves a batch room to finish after a slow record; a message is in flight for at most one
# invocation, so 2x is enough visibility. The slow-record marker lets the e2e suite show that one slow record
# fails alone; the template refuses it in prod.
EMULATOR_STAGE_PARAMETERS = {
    "WriterTimeout": "4",
    "QueueVisibilityTimeout": "8",
    "WriterSlowMarker": "e2e-slow-record",
    "TracingEnabled": "false",
    "ThrottleRateLimit": "10000",
    "ThrottleBurstLimit": "5000",
    # Neither emulator runs CodeDeploy (MiniStack refuses AWS::CodeDeploy::* at CreateStack): the `live` alias
    # moves to each new version at once, with no alarm watch.
    "GradualDeployment": "false",
}

# Hooks for tests that the template (and the writer's configuration) refuse in prod.
TEST_ONLY_PARAMETERS = frozenset({"WriterSlowMarker"})

_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=60)


# Where the engine serves Cognito's OAuth 2.0 endpoints (AWS: https://<domain>.auth.<region>.amazoncognito.com).
COGNITO_DOMAIN_SUFFIX = ".amazoncognito.com"


@dataclass
class Emulator:
    port: int
    # MiniStack answers /oauth2/token at its root; LocalStack under /_aws/cognito-idp (its docs, client credentials).
    cognito_path_prefix = ""
    # Creating a boto3 client costs ~0.1 s (it loads the service model); commands make dozens of calls.
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=EMULATOR_ACCESS_KEY,
            aws_secret_access_key=EMULATOR_ACCESS_KEY,
            region_name=EMULATOR_REGION,
        )

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session().client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url(), config=_CLIENT_CONFIG
            )
        return self._clients[service]

    def reachable_url(self, url: str) -> str:
        """Point an AWS-shaped URL at the emulator: execute-api hosts become the `/_aws/execute-api` path."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ".execute-api." in host:
            api_id = host.split(".", 1)[0]
            base = self.endpoint_url()
            if parts.scheme in {"ws", "wss"}:  # a WebSocket API: the same path, on the WebSocket scheme
                base = "ws" + base.removeprefix("http")
            return f"{base}/_aws/execute-api/{api_id}{parts.path}"
        if host.endswith(COGNITO_DOMAIN_SUFFIX):
            # The engine finds the user pool from the client id, so the domain prefix is not needed.
            return f"{self.endpoint_url()}{self.cognito_path_prefix}{parts.path}"
        if host in {"localhost", "127.0.0.1", "localhost.localstack.cloud"} or host.endswith(
            ".localstack.cloud"
        ):
            query = f"?{parts.query}" if parts.query else ""
            return f"{self.endpoint_url()}{parts.path}{query}"
        return url

    def stage_parameters(self) -> dict[str, str]:
        return dict(EMULATOR_STAGE_PARAMETERS)

    def answers(self, path: str) -> dict[str, Any] | None:
        """The JSON the emulator serves at `path`, or None when nothing answers there."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url()}{path}", timeout=1) as reply:
                body: dict[str, Any] = json.load(reply)
                return body
        except (OSError, ValueError, urllib.error.URLError):
            return None


def stack_statuses(engine: Engine) -> list[tuple[str, str]]:
    """The name and status of every stack the engine holds."""
    stacks = engine.client("cloudformation").describe_stacks().get("Stacks", [])
    return [(stack["StackName"], stack["StackStatus"]) for stack in stacks]


def missing_resources(engine: Engine, name: str) -> list[str]:
    """The stack's table, queues and functions that CloudFormation lists but the engine does not have (an
    emulator whose saved state lost a service's file comes back with the stack and without its resources)."""
    resources = engine.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"]
    checks: dict[str, tuple[str, str, str]] = {
        "AWS::DynamoDB::Table": ("dynamodb", "describe_table", "TableName"),
        "AWS::SQS::Queue": ("sqs", "get_queue_attributes", "QueueUrl"),
        "AWS::Lambda::Function": ("lambda", "get_function_configuration", "FunctionName"),
    }
    missing = []
    for resource in resources:
        if resource["ResourceType"] not in checks:
            continue
        service, operation, parameter = checks[resource["ResourceType"]]
        physical = resource.get("PhysicalResourceId", "")
        try:
            getattr(engine.client(service), operation)(**{parameter: engine.reachable_url(physical)})
        except ClientError:
            missing.append(f"{resource['LogicalResourceId']} ({physical})")
    return missing


def check_stack_intact(engine: Engine, name: str) -> None:
    """A ToolingError naming what is missing when the engine lost part of a stack it says exists."""
    missing = missing_resources(engine, name)
    if missing:
        raise ToolingError(
            f"The engine says stack {name} exists, but it has no {', '.join(missing)}: its saved state is "
            "damaged or incomplete. `invoke up --restore` puts back the last good backup of the local state; "
            "`invoke up --fresh` starts empty (local data is lost)."
        )
