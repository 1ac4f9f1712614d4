"""The tooling side of the notifications, offline: the WebSocket URL a program on this host can reach, the token
in its query string, and how `invoke notifications` prints a change."""

from __future__ import annotations

import pytest

from devkit.core.project import ToolingError
from devkit.engines.ministack import MiniStack
from devkit.stack.notifications import Received, format_notification, socket_url


def test_given_an_aws_shaped_websocket_url_then_the_emulator_serves_it_on_ws() -> None:
    engine = MiniStack(port=4605)
    assert engine.reachable_url("wss://abc123.execute-api.us-east-1.amazonaws.com/dev") == (
        "ws://127.0.0.1:4605/_aws/execute-api/abc123/dev"
    )
    # The REST API keeps its scheme
    assert engine.reachable_url("https://abc123.execute-api.us-east-1.amazonaws.com/dev/x/").startswith(
        "http://"
    )


def test_given_a_token_then_it_travels_url_encoded_in_the_query_string() -> None:
    url = socket_url(
        MiniStack(port=1), {"WebSocketUrl": "ws://127.0.0.1:1/_aws/execute-api/a/dev"}, token="a+b/c="
    )
    assert url == "ws://127.0.0.1:1/_aws/execute-api/a/dev?token=a%2Bb%2Fc%3D"


def test_given_a_stack_without_the_websocket_api_then_the_error_says_to_deploy_again() -> None:
    with pytest.raises(ToolingError, match="deploy the stack again"):
        socket_url(MiniStack(port=1), {}, token="t")


def test_given_a_change_then_one_line_says_what_and_which() -> None:
    line = format_notification(
        Received(
            {
                "type": "purchase.updated",
                "ProductPurchaseId": "p-1",
                "purchase": {"ProductName": "Belt", "Quantity": 2, "TotalPrice": 21, "CustomerName": "Ada"},
            },
            at=0.0,
        )
    )
    assert "purchase.updated" in line and "p-1" in line and "Belt x2" in line and "Ada" in line
    assert "purchase.deleted" in format_notification(Received({"type": "purchase.deleted"}, at=0.0))
