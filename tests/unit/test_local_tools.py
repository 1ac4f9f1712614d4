"""The local development tools without an engine: sample events the handlers accept, event files, snapshot names,
the tasks' error handling and their plain output when not on a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, SQSEvent
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command
from devkit.core import ui
from devkit.core.project import ToolingError
from devkit.engines.snapshots import automatic_name, check_name, human_size
from devkit.stack.events import BUILDERS, CLAIMS, FOR_FUNCTION, SAMPLE_ID, sample_event
from devkit.stack.invoking import read_event
from purchases import api
from purchases.messages import WriteAction, decode_message
from purchases.rules import parse_purchase


def test_every_kind_names_the_function_it_is_for() -> None:
    assert set(BUILDERS) == set(FOR_FUNCTION)
    assert set(FOR_FUNCTION.values()) <= {
        "sender",
        "reader",
        "writer",
        "notifier",
        "connections",
        "authorizer",
    }


@pytest.mark.parametrize(
    ("kind", "method", "purchase_id", "has_body"),
    [
        ("api-get", "GET", SAMPLE_ID, False),
        ("api-post", "POST", None, True),
        ("api-put", "PUT", SAMPLE_ID, True),
        ("api-delete", "DELETE", SAMPLE_ID, False),
    ],
)
def test_api_events_are_rest_proxy_events_from_an_authorized_client_with_a_valid_purchase(
    kind: str, method: str, purchase_id: str | None, has_body: bool
) -> None:
    # Given the sample event, When Powertools reads it as the handlers do
    event = APIGatewayProxyEvent(sample_event(kind))

    # Then it is the route, the caller and (for writes) a purchase the rules accept
    assert event.http_method == method
    assert (event.path_parameters or {}).get("id") == purchase_id
    assert api.client_id(event) == CLAIMS["client_id"]
    if has_body:
        parse_purchase(event.json_body)
    else:
        assert event.body is None


def test_an_api_get_reaches_the_readers_route(lambda_context: Any, store: Any) -> None:
    import reader

    reader.store.override(store)
    try:
        response = reader.lambda_handler(sample_event("api-get"), lambda_context)
    finally:
        reader.store.override(None)
    assert response["statusCode"] == 404  # routed and parsed: the sample purchase is simply not stored


def test_the_sqs_write_event_carries_a_message_the_writer_decodes() -> None:
    records = list(SQSEvent(sample_event("sqs-write")).records)
    assert len(records) == 1
    message = decode_message(records[0].body)
    assert message.action is WriteAction.CREATE and message.client_id == CLAIMS["client_id"]


def test_the_stream_change_event_is_a_created_purchase_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTION_TABLE", "unit-test-connections")
    monkeypatch.setenv("NOTIFICATION_API_ID", "abc123")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("USER_POOL_ID", "us-east-1_unittest")
    import notifier

    [change] = notifier.changes_of(sample_event("stream-change"))
    assert json.loads(change.data)["type"] == "purchase.created"
    assert change.owner == CLAIMS["client_id"]


def test_the_ws_connect_event_is_a_connect_with_the_authorizers_principal() -> None:
    context = sample_event("ws-connect")["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["authorizer"]["principalId"] == CLAIMS["client_id"]


def test_an_unknown_event_kind_is_refused_with_the_choices() -> None:
    with pytest.raises(ToolingError, match="api-get, api-post"):
        sample_event("api-patch")


def test_event_files_are_read_from_a_path_or_stdin_and_must_be_json_objects(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text('{"a": 1}')
    assert read_event(str(path)) == {"a": 1}
    assert read_event("-", io.StringIO('{"b": 2}')) == {"b": 2}
    assert read_event("") == {}
    with pytest.raises(ToolingError, match="Cannot read the event file"):
        read_event(str(tmp_path / "missing.json"))
    with pytest.raises(ToolingError, match="not JSON"):
        read_event("-", io.StringIO("{"))
    with pytest.raises(ToolingError, match="JSON object"):
        read_event("-", io.StringIO("[1]"))


@pytest.mark.parametrize("name", ["demo", "before-demo_2.1", "a" * 64, automatic_name(1_800_000_000.5)])
def test_snapshot_names_that_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "-flag", "a" * 65, "with space"])
def test_snapshot_names_that_are_refused(name: str) -> None:
    with pytest.raises(ToolingError, match="Invalid snapshot name"):
        check_name(name)


def test_sizes_read_at_a_glance() -> None:
    assert [human_size(size) for size in (512, 2048, 5 * 1024 * 1024)] == ["512 B", "2.0 KB", "5.0 MB"]


def _failing(error: Exception) -> Any:
    @command()
    def task(c: Context) -> None:
        raise error

    return task


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ToolingError("Port 4566 is already in use."), "Error: Port 4566 is already in use."),
        (
            ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no such queue"}}, "GetQueueUrl"
            ),
            "Error: GetQueueUrl failed: ResourceNotFoundException: no such queue",
        ),
        (
            ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": "Stack with id product-purchase-dev does not exist",
                    }
                },
                "DescribeStacks",
            ),
            "Error: Stack with id product-purchase-dev does not exist: deploy it first",
        ),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"), "is the engine running?"),
        (NoCredentialsError(), "No AWS credentials found"),
    ],
)
def test_expected_failures_become_one_line_on_stderr_and_exit_code_1(
    error: Exception, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Exit) as stopped:
        _failing(error)(Context())
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(KeyError):
        _failing(KeyError("bug"))(Context())


def test_output_to_a_pipe_is_plain_text_with_nothing_cut(capsys: pytest.CaptureFixture[str]) -> None:
    long_url = "http://127.0.0.1:4566/_aws/execute-api/0866492b/dev/product-purchase/" + "x" * 100
    ui.table(("Output", "Value"), [("ProductPurchaseApi", long_url), ("Stage", "dev")])
    ui.say("[not markup] " + long_url)
    with ui.phase("Deploying"):
        pass
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "Output              Value",
        f"ProductPurchaseApi  {long_url}",
        "Stage               dev",
        f"[not markup] {long_url}",
    ]
    assert "\x1b[" not in captured.out + captured.err
    assert captured.err.splitlines()[0] == "Deploying ..."
