"""Tokens for the authentication tests: real ones from other app clients and another user pool, and forged ones
made from a real token (tampered, `alg: none`). Everything created here is removed by the fixture that made it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_WRITE_SCOPES, client_secret, request_token

from .support import eventually, unique_token


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(part: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return document


def claims(token: str) -> dict[str, Any]:
    """The token's payload, read without checking anything (to learn its `exp`, `client_id`, ...)."""
    return _b64url_json(token.split(".")[1])


def tampered(token: str) -> str:
    """The token with its payload changed (a later expiry) and the original signature kept."""
    header, payload, signature = token.split(".")
    changed = {**_b64url_json(payload), "exp": int(_b64url_json(payload)["exp"]) + 24 * 3600}
    return f"{header}.{_b64url(json.dumps(changed).encode())}.{signature}"


def unsigned(token: str) -> str:
    """The token's claims under `alg: none` and no signature (RFC 7519's unsecured JWT)."""
    header, payload, _ = token.split(".")
    none_header = {**_b64url_json(header), "alg": "none"}
    return f"{_b64url(json.dumps(none_header).encode())}.{payload}."


@dataclass(frozen=True)
class AppClient:
    user_pool_id: str
    client_id: str


@contextmanager
def app_client(
    engine: Engine,
    user_pool_id: str,
    *,
    scopes: tuple[str, ...] = READ_WRITE_SCOPES,
    lifetime: tuple[int, str] = (60, "minutes"),
) -> Iterator[AppClient]:
    """A client-credentials app client in `user_pool_id`, deleted afterwards."""
    cognito = engine.client("cognito-idp")
    created = cognito.create_user_pool_client(
        UserPoolId=user_pool_id,
        ClientName=f"e2e-{unique_token()}",
        GenerateSecret=True,
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=list(scopes),
        AccessTokenValidity=lifetime[0],
        TokenValidityUnits={"AccessToken": lifetime[1]},
    )["UserPoolClient"]
    try:
        yield AppClient(user_pool_id, created["ClientId"])
    finally:
        cognito.delete_user_pool_client(UserPoolId=user_pool_id, ClientId=created["ClientId"])


def token_for(
    engine: Engine, token_url: str, client: AppClient, scopes: tuple[str, ...] = READ_WRITE_SCOPES
) -> str:
    """A fresh token (never cached) for `client`, asked of `token_url` until it answers (a new domain on AWS
    takes a moment to resolve)."""
    secret = client_secret(engine, client.user_pool_id, client.client_id)

    def attempt() -> str | None:
        try:
            return request_token(token_url, client.client_id, secret, scopes)[0]
        except ToolingError:
            return None

    return eventually(attempt, f"a token from {token_url}", timeout=120)


@contextmanager
def foreign_pool(engine: Engine, region: str) -> Iterator[tuple[AppClient, str]]:
    """Another user pool, shaped like the stack's (same resource server and scopes, its own domain): a client of
    it and its token URL. Everything is deleted afterwards."""
    cognito = engine.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName=f"e2e-foreign-{unique_token()}")["UserPool"]["Id"]
    prefix = f"e2e-foreign-{unique_token()}"
    try:
        cognito.create_resource_server(
            UserPoolId=pool_id,
            Identifier="purchases",
            Name="Same scopes, other pool",
            Scopes=[
                {"ScopeName": "read", "ScopeDescription": "r"},
                {"ScopeName": "write", "ScopeDescription": "w"},
            ],
        )
        cognito.create_user_pool_domain(UserPoolId=pool_id, Domain=prefix)
        token_url = engine.reachable_url(f"https://{prefix}.auth.{region}.amazoncognito.com/oauth2/token")
        try:
            with app_client(engine, pool_id) as client:
                yield client, token_url
        finally:
            cognito.delete_user_pool_domain(UserPoolId=pool_id, Domain=prefix)
    finally:
        cognito.delete_user_pool(UserPoolId=pool_id)
