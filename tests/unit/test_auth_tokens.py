"""devkit.stack.auth without an engine: a token endpoint on loopback and a stand-in for the Cognito API."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from botocore.exceptions import ClientError

from devkit.core.project import ToolingError
from devkit.stack import auth

SECRET = "s3cr3t-never-printed"


class TokenEndpoint(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []  # noqa: RUF012 - the test reads what the server saw
    status = 200

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        basic = base64.b64decode(self.headers["Authorization"].split(" ", 1)[1]).decode()
        TokenEndpoint.requests.append({"form": form, "basic": basic})
        if TokenEndpoint.status != 200:
            body = json.dumps({"error": "invalid_scope"}).encode()
        else:
            body = json.dumps(
                {
                    "access_token": f"token-{len(TokenEndpoint.requests)}",
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }
            ).encode()
        self.send_response(TokenEndpoint.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeCognito:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.calls = 0

    def describe_user_pool_client(self, UserPoolId: str, ClientId: str) -> dict[str, Any]:
        self.calls += 1
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "DescribeUserPoolClient")
        return {"UserPoolClient": {"ClientId": ClientId, "ClientSecret": SECRET}}


class FakeEngine:
    name = "ministack"

    def __init__(self, cognito: FakeCognito) -> None:
        self.cognito = cognito

    def client(self, service: str) -> Any:
        assert service == "cognito-idp"
        return self.cognito


@pytest.fixture
def token_url() -> Iterator[str]:
    TokenEndpoint.requests = []
    TokenEndpoint.status = 200
    auth.forget_tokens()
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/oauth2/token"
    server.shutdown()
    server.server_close()
    auth.forget_tokens()


def outputs(token_url: str, **more: str) -> dict[str, str]:
    return {"UserPoolId": "us-east-1_pool", "TokenUrl": token_url, "DevelopmentClientId": "devclient", **more}


def test_a_token_is_fetched_by_client_credentials_and_cached(token_url: str) -> None:
    # Given the development client of a stage
    engine = FakeEngine(FakeCognito())
    # When two tokens with the same scopes are asked for
    first = auth.access_token(engine, outputs(token_url))  # type: ignore[arg-type]
    second = auth.access_token(engine, outputs(token_url))  # type: ignore[arg-type]
    # Then the endpoint saw one client-credentials grant for both scopes, authenticated with the looked-up secret
    assert first == second == "token-1"
    (request,) = TokenEndpoint.requests
    assert request["form"]["grant_type"] == ["client_credentials"]
    assert request["form"]["scope"] == ["purchases/read purchases/write"]
    assert request["basic"] == f"devclient:{SECRET}"
    # And other scopes are another token
    assert auth.access_token(engine, outputs(token_url), ["purchases/read"]) == "token-2"  # type: ignore[arg-type]


def test_a_refused_grant_says_why_without_the_secret(token_url: str) -> None:
    TokenEndpoint.status = 400
    with pytest.raises(ToolingError) as refused:
        auth.access_token(FakeEngine(FakeCognito()), outputs(token_url))  # type: ignore[arg-type]
    assert "invalid_scope" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_an_unknown_client_says_to_deploy_again(token_url: str) -> None:
    with pytest.raises(ToolingError, match="deploy the stack again"):
        auth.access_token(FakeEngine(FakeCognito("ResourceNotFoundException")), outputs(token_url))  # type: ignore[arg-type]


def test_prod_has_no_development_client_and_the_message_names_the_consumer_task(token_url: str) -> None:
    values = {key: value for key, value in outputs(token_url).items() if key != "DevelopmentClientId"}
    with pytest.raises(ToolingError, match="invoke consumer"):
        auth.access_token(FakeEngine(FakeCognito()), {**values, "Stage": "prod"})  # type: ignore[arg-type]


def test_a_stopped_token_endpoint_says_to_start_the_engine() -> None:
    auth.forget_tokens()
    with pytest.raises(ToolingError, match="invoke up"):
        auth.access_token(FakeEngine(FakeCognito()), outputs("http://127.0.0.1:9/oauth2/token"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("", ("purchases/read", "purchases/write")),
        ("purchases/read", ("purchases/read",)),
        ("purchases/read, purchases/write", ("purchases/read", "purchases/write")),
    ],
)
def test_scopes_are_read_from_the_command_line(text: str, scopes: tuple[str, ...]) -> None:
    assert auth.parse_scopes(text) == scopes
