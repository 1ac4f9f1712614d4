"""The engines' contract without running one: the LocalStack path is checked statically (no Docker engine runs on
this project's machines), and MiniStack's start-up refuses what it must refuse before it spawns anything."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from docker.errors import DockerException

from devkit.core.project import ToolingError
from devkit.core.waiting import wait_for
from devkit.engines import engine_from_outputs, get_engine
from devkit.engines.localstack import COMPOSE_FILE, LocalStack
from devkit.engines.ministack import DEFAULT_PORT, MiniStack
from devkit.engines.ministack.engine import LAUNCHER, _has_exited


@pytest.fixture(scope="module")
def localstack_service() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    service: dict[str, Any] = compose["services"]["localstack"]
    return service


def test_compose_pins_the_localstack_image_and_lets_it_be_overridden(
    localstack_service: dict[str, Any],
) -> None:
    # Given the compose file's image reference, e.g. ${LOCALSTACK_IMAGE:-localstack/localstack:4.14.0}
    image = localstack_service["image"]
    # Then the default is a fixed version, never a moving tag, and LOCALSTACK_IMAGE overrides it
    assert image.startswith("${LOCALSTACK_IMAGE:-localstack/localstack:")
    tag = image.rsplit(":", 1)[1].rstrip("}")
    assert tag not in {"latest", "stable"} and tag[0].isdigit()


def test_compose_binds_localstack_to_loopback_only(localstack_service: dict[str, Any]) -> None:
    # Then every published port is on 127.0.0.1: an emulator takes any credentials
    assert localstack_service["ports"]
    assert all(str(port).startswith("127.0.0.1:") for port in localstack_service["ports"])


def test_compose_passes_the_auth_token_through_and_mounts_the_docker_socket(
    localstack_service: dict[str, Any],
) -> None:
    environment = localstack_service["environment"]
    # Then the token comes from the user's environment (never written in the file) ...
    assert environment["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    # ... Lambda containers can be started, IAM is enforced, and the services the stack uses are enabled
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack_service["volumes"]
    assert environment["ENFORCE_IAM"] == "1"
    for service in ("cloudformation", "lambda", "apigateway", "sqs", "dynamodb", "s3", "iam", "sts", "logs"):
        assert service in environment["SERVICES"].split(",")
    # ... and compose knows when it is ready
    assert "_localstack/health" in " ".join(localstack_service["healthcheck"]["test"])


def test_localstack_without_a_docker_engine_suggests_the_default_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no Docker daemon answers, and nothing answers on the LocalStack port
    def no_daemon() -> Any:
        raise DockerException("Error while fetching server API version: connection refused")

    monkeypatch.setattr("docker.from_env", no_daemon)
    engine = LocalStack(port=_unused_port())
    # When LocalStack is asked to start
    with pytest.raises(ToolingError) as refused:
        engine.start()
    # Then the message says what to do instead
    assert "No Docker engine is running" in str(refused.value)
    assert "invoke up" in str(refused.value)


def test_localstack_reuses_one_that_already_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a LocalStack already answering (e.g. CI's service container) and no Docker client at all
    monkeypatch.setattr(LocalStack, "is_ready", lambda self: True)
    monkeypatch.setattr(LocalStack, "answers", lambda self, path: {"services": {"cognito-idp": "available"}})
    monkeypatch.setattr("docker.from_env", lambda: pytest.fail("must not need the Docker daemon"))
    # When it is asked to start, then it deploys to that one without touching Docker
    LocalStack(port=4566).start()


@pytest.mark.parametrize("state", [None, "disabled", "error"])
def test_localstack_without_cognito_fails_before_deploying_and_names_the_plan(
    monkeypatch: pytest.MonkeyPatch, state: str | None
) -> None:
    # Given a LocalStack that answers but whose health lists no usable cognito-idp (a Hobby-plan token, say)
    services = {"cloudformation": "available", **({"cognito-idp": state} if state else {})}
    monkeypatch.setattr(LocalStack, "is_ready", lambda self: True)
    monkeypatch.setattr(LocalStack, "answers", lambda self, path: {"services": services})
    # When `up --engine localstack` starts it
    with pytest.raises(ToolingError) as refused:
        LocalStack(port=4566).start()
    # Then it stops there, saying which plan the stack needs
    assert "Base plan" in str(refused.value)
    assert "cognito-idp" in str(refused.value)


# The engine service behind each resource type's namespace (the template's `Type: AWS::<Namespace>::...`).
SERVICE_OF_NAMESPACE = {
    "ApiGateway": "apigateway",
    "ApiGatewayV2": "apigatewayv2",
    "CertificateManager": "acm",
    "CloudFormation": "cloudformation",
    "CloudWatch": "cloudwatch",
    "Cognito": "cognito-idp",
    "DynamoDB": "dynamodb",
    "IAM": "iam",
    "KMS": "kms",
    "Lambda": "lambda",
    "Logs": "logs",
    "Route53": "route53",
    "SNS": "sns",
    "SQS": "sqs",
}


def _services_the_stack_uses() -> set[str]:
    from devkit.core.template import load_template

    resources = load_template()["Resources"].values()
    services = {"s3", "sts"}  # the deploy uploads the code and the template to S3; every client asks STS
    for resource in resources:
        namespace = resource["Type"].split("::")[1]
        if namespace == "Serverless":
            services.add("lambda" if resource["Type"].endswith("Function") else "apigateway")
        else:
            services.add(SERVICE_OF_NAMESPACE[namespace])
        if "StreamSpecification" in resource.get("Properties", {}):
            services.add("dynamodbstreams")
    return services


def test_every_services_list_enables_each_service_the_stack_uses() -> None:
    from devkit.engines.ministack import SERVICES

    # Given the services behind the template's resources
    needed = _services_the_stack_uses()
    # Then MiniStack, the compose file's LocalStack and CI's LocalStack service container all enable them
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["localstack"]["environment"]["SERVICES"]
    workflow = yaml.safe_load((COMPOSE_FILE.parent / ".github" / "workflows" / "ci.yml").read_text())
    ci_services = [
        service["env"]["SERVICES"]
        for job in workflow["jobs"].values()
        for service in job.get("services", {}).values()
        if "SERVICES" in service.get("env", {})
    ]
    for listed in (SERVICES, compose, *ci_services):
        assert needed <= set(listed.split(",")), needed - set(listed.split(","))
    assert ci_services, "the CI workflow runs LocalStack as a service container with a SERVICES list"


@pytest.mark.parametrize(
    ("engine", "reachable"),
    [
        (LocalStack(port=4599), "http://127.0.0.1:4599/_aws/cognito-idp/oauth2/token"),
        (MiniStack(port=4599, state_dir=Path("/nonexistent")), "http://127.0.0.1:4599/oauth2/token"),
    ],
)
def test_the_token_endpoint_is_rewritten_to_the_engine(engine: Any, reachable: str) -> None:
    reported = "https://purchases-dev-000000000000.auth.us-east-1.amazoncognito.com/oauth2/token"
    assert engine.reachable_url(reported) == reachable


def test_both_emulators_bundle_what_their_lambda_runtimes_lack() -> None:
    # MiniStack runs handlers on this environment's interpreter; LocalStack in a bare runtime image
    assert get_engine("ministack", state_dir=Path("/nonexistent")).bundles_dependencies is False
    assert get_engine("localstack").bundles_dependencies is True


@pytest.mark.parametrize(
    ("reported", "reachable"),
    [
        (
            "https://abc123.execute-api.us-east-1.amazonaws.com/dev/product-purchase/",
            "http://127.0.0.1:4599/_aws/execute-api/abc123/dev/product-purchase/",
        ),
        (
            "http://localhost:4566/000000000000/product-purchase-dev-PurchaseQueue-X",
            "http://127.0.0.1:4599/000000000000/product-purchase-dev-PurchaseQueue-X",
        ),
        (
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q",
            "http://127.0.0.1:4599/000000000000/q",
        ),
        ("https://api.example.com/product-purchase/", "https://api.example.com/product-purchase/"),
    ],
)
def test_emulator_urls_are_rewritten_to_the_engine_on_this_host(reported: str, reachable: str) -> None:
    for engine in (LocalStack(port=4599), MiniStack(port=4599, state_dir=Path("/nonexistent"))):
        assert engine.reachable_url(reported) == reachable


def test_an_outputs_file_names_its_engine_and_port() -> None:
    engine = engine_from_outputs({"Engine": "localstack", "EndpointUrl": "http://127.0.0.1:4571"})
    assert engine.name == "localstack"
    assert engine.endpoint_url() == "http://127.0.0.1:4571"


def test_ministack_refuses_a_port_another_process_holds(tmp_path: Path) -> None:
    # Given a port some other process listens on
    with _listening_socket() as port:
        engine = MiniStack(port=port, state_dir=tmp_path)
        # When MiniStack is asked to start there
        with pytest.raises(ToolingError) as refused:
            engine.start()
    # Then nothing was spawned and the message says how to pick another port
    assert f"Port {port} is already in use" in str(refused.value)
    assert "--port" in str(refused.value)
    assert not (tmp_path / "engine.json").exists()


def test_stopping_a_ministack_that_never_ran_signals_nothing(tmp_path: Path) -> None:
    # Given a record naming a PID that is not MiniStack (our own test process)
    (tmp_path / "engine.json").write_text(f'{{"pid": {os.getpid()}, "port": 4567}}')
    # When asked to stop, then it does not signal that process and forgets the PID, not the port
    MiniStack(port=4567, state_dir=tmp_path).stop()
    assert json.loads((tmp_path / "engine.json").read_text()) == {"port": 4567}


def test_down_then_up_comes_back_on_the_last_port(tmp_path: Path) -> None:
    # Given an engine that ran on port 4567 and was stopped
    MiniStack(port=4567, state_dir=tmp_path).stop()
    # When the next `up` creates it without a port, then it is on 4567 again; an explicit port still wins
    assert MiniStack.create(state_dir=tmp_path).port == 4567
    assert MiniStack.create(port=4599, state_dir=tmp_path).port == 4599
    assert MiniStack.create(state_dir=tmp_path / "never-ran").port == DEFAULT_PORT


@contextmanager
def _fake_engine(tmp_path: Path, *, ignores_sigterm: bool) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names ministack, recorded as the engine this project started."""
    body = "import signal, time\n"
    if ignores_sigterm:
        body += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    body += "print('ready', flush=True)\ntime.sleep(60)\n"
    process = subprocess.Popen([sys.executable, "-c", body, str(LAUNCHER)], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    (tmp_path / "engine.json").write_text(json.dumps({"pid": process.pid, "port": 4571}))
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_stop_ends_the_recorded_engine_and_keeps_its_port(tmp_path: Path) -> None:
    with _fake_engine(tmp_path, ignores_sigterm=False) as process:
        engine = MiniStack.create(state_dir=tmp_path)
        # Given it is seen as running (by psutil: no /proc, so this holds on macOS too)
        assert engine.pid() == process.pid and engine.port == 4571
        # When it is stopped
        engine.stop()
        # Then the process has ended and the next `up` knows the port
        assert process.poll() is not None
        assert engine.pid() is None
        assert MiniStack.create(state_dir=tmp_path).port == 4571


def test_stop_never_kills_an_engine_that_is_still_busy_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devkit.engines.ministack.engine.STOP_TIMEOUT", 0.5)
    with _fake_engine(tmp_path, ignores_sigterm=True) as process:
        engine = MiniStack.create(state_dir=tmp_path)
        # When it does not stop in time (it may be saving), then `down` says so and leaves it running ...
        with pytest.raises(ToolingError, match="--force"):
            engine.stop()
        assert process.poll() is None and engine.pid() == process.pid
        # ... and only --force kills it
        engine.stop(force=True)
        assert process.wait(timeout=5) is not None
        assert engine.pid() is None


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def _listening_socket() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_given_an_engine_another_process_started_when_it_exits_then_it_counts_as_stopped_while_still_a_zombie() -> (
    None
):
    # Given a process whose parent is not us and does not reap it (the e2e restart test stops the engine that its
    # `invoke test` parent started): a child forks a grandchild that exits at once, and the child never waits.

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
            "print(pid, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        grandchild = psutil.Process(int(parent.stdout.readline()))
        wait_for(lambda: grandchild.status() == psutil.STATUS_ZOMBIE, timeout=5, what="the zombie")
        # Then it has exited, although its PID is still taken
        assert _has_exited(grandchild)
    finally:
        parent.kill()
        parent.wait()
