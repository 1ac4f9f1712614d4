"""The $connect authorizer: only a pool-signed, unexpired access token with purchases/read is admitted; every
other case is a Deny policy (never an exception, which API Gateway would answer with 500)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from purchases.config import AuthorizerConfig, NotifierConfig
from purchases.tokens import AccessTokenVerifier, InvalidToken

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"


def token(key: Any = POOL_KEY, algorithm: str = "RS256", **claims: Any) -> str:
    document = {
        "iss": ISSUER,
        "token_use": "access",
        "scope": "purchases/read purchases/write",
        "client_id": "dev-client",
        "exp": int(time.time()) + 600,
        **claims,
    }
    document = {name: value for name, value in document.items() if value is not None}
    return jwt.encode(document, key, algorithm=algorithm, headers={"kid": "pool-key"})


class _PoolKey:
    key = POOL_KEY.public_key()


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> AccessTokenVerifier:
    checker = AccessTokenVerifier(
        issuer=ISSUER, jwks_url="http://127.0.0.1:9/jwks.json", required_scope="purchases/read"
    )
    # The pool's published key, without the network: what PyJWKClient would have fetched for this kid.
    monkeypatch.setattr(checker._keys, "get_signing_key_from_jwt", lambda _token: _PoolKey())
    return checker


def test_given_a_pool_token_with_the_read_scope_then_the_caller_is_known(
    verifier: AccessTokenVerifier,
) -> None:
    expires_at = int(time.time()) + 300
    caller = verifier.verify(token(exp=expires_at))
    assert caller.client_id == "dev-client" and "purchases/read" in caller.scopes
    assert caller.expires_at == expires_at


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(None, id="no token"),
        pytest.param("", id="empty"),
        pytest.param("not.a.jwt", id="garbage"),
        pytest.param(token(key=OTHER_KEY), id="signed by another key"),
        pytest.param(token(exp=int(time.time()) - 5), id="expired"),
        pytest.param(token(iss="https://cognito-idp.us-east-1.amazonaws.com/other"), id="another pool"),
        pytest.param(token(scope="purchases/write"), id="write scope only"),
        pytest.param(token(token_use="id", aud="dev-client"), id="an id token"),
        pytest.param(token(token_use=None), id="no token_use"),
        pytest.param(token(client_id=None), id="no client"),
        pytest.param(token(key="a-shared-secret-of-at-least-32-bytes!", algorithm="HS256"), id="HMAC"),
    ],
)
def test_given_anything_else_then_the_token_is_refused(
    verifier: AccessTokenVerifier, bad: str | None
) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(bad)


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch, verifier: AccessTokenVerifier) -> Iterator[Any]:
    monkeypatch.setenv("USER_POOL_ID", "us-east-1_Pool")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    import authorizer as module

    module.verifier.override(verifier)
    yield module
    module.verifier.override(None)


def _event(token_value: str | None) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "queryStringParameters": None if token_value is None else {"token": token_value},
        "requestContext": {"routeKey": "$connect", "connectionId": "c1"},
    }


def test_given_a_valid_token_then_the_connect_is_allowed_for_its_client(
    authorizer: Any, lambda_context: Any
) -> None:
    expires_at = int(time.time()) + 300
    answer = authorizer.lambda_handler(_event(token(exp=expires_at)), lambda_context)
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    assert answer["principalId"] == "dev-client"
    # The $connect route keeps the client, its admin flag and the token's expiry with the connection
    assert answer["context"] == {
        "clientId": "dev-client",
        "admin": "false",
        "tokenExpiresAt": str(expires_at),
    }


def test_given_a_token_with_the_admin_scope_then_the_connection_is_an_admins(
    authorizer: Any, lambda_context: Any
) -> None:
    answer = authorizer.lambda_handler(_event(token(scope="purchases/read purchases/admin")), lambda_context)
    assert answer["context"]["admin"] == "true"


@pytest.mark.parametrize("value", [None, "garbage", token(scope="purchases/write")])
def test_given_no_valid_token_then_the_connect_is_denied_not_failed(
    authorizer: Any, lambda_context: Any, value: str | None
) -> None:
    answer = authorizer.lambda_handler(_event(value), lambda_context)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_given_unreachable_keys_then_the_connect_is_denied_not_failed(
    authorizer: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(_token: str) -> Any:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(authorizer.verifier()._keys, "get_signing_key_from_jwt", unreachable)
    answer = authorizer.lambda_handler(_event(token()), lambda_context)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_given_an_emulator_then_keys_and_pushes_go_through_its_endpoint() -> None:
    emulator = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_REGION": "us-east-1"}
    auth = AuthorizerConfig.from_environ({**emulator, "USER_POOL_ID": "us-east-1_P"})
    assert auth.issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_P"
    assert auth.jwks_url == "http://127.0.0.1:4566/us-east-1_P/.well-known/jwks.json"
    notifier = NotifierConfig.from_environ(
        {
            **emulator,
            "NOTIFICATION_API_ID": "abc",
            "STAGE": "dev",
            "CONNECTION_TABLE": "t",
            "CONNECTION_LEASE_TABLE": "l",
            "USER_POOL_ID": "P",
        }
    )
    assert notifier.management_endpoint == "http://127.0.0.1:4566/_aws/execute-api/abc/dev"


def test_given_aws_then_keys_and_pushes_go_to_the_regional_endpoints() -> None:
    environ = {"AWS_REGION": "eu-west-1", "USER_POOL_ID": "eu-west-1_P"}
    auth = AuthorizerConfig.from_environ(environ)
    assert auth.jwks_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_P/.well-known/jwks.json"
    notifier = NotifierConfig.from_environ(
        {
            **environ,
            "NOTIFICATION_API_ID": "abc",
            "STAGE": "prod",
            "CONNECTION_TABLE": "t",
            "CONNECTION_LEASE_TABLE": "l",
        }
    )
    assert notifier.management_endpoint == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
