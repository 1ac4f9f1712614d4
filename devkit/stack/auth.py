"""Bearer tokens for the API: the OAuth 2.0 client-credentials grant against the stage's Cognito user pool.

The client secret is read through the Cognito API (DescribeUserPoolClient) each time a token is needed and kept
only in memory: it is never printed, logged or written. Tokens are cached in this process until shortly before
they expire, so a benchmark or a test session asks the token endpoint once, not once per request.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from devkit.core.project import ToolingError
from devkit.engines import Engine

READ_SCOPE: Final = "purchases/read"
WRITE_SCOPE: Final = "purchases/write"
# Every caller's purchases instead of only its own; it widens read and write, and no token carries it unless asked.
ADMIN_SCOPE: Final = "purchases/admin"
# The scopes a development token carries unless others are asked for (never the admin scope).
READ_WRITE_SCOPES: Final = (READ_SCOPE, WRITE_SCOPE)
# Every scope of the stage's resource server.
KNOWN_SCOPES: Final = (READ_SCOPE, WRITE_SCOPE, ADMIN_SCOPE)
# A cached token is renewed this long before it expires, so a request never leaves with one about to lapse.
RENEW_BEFORE_SECONDS: Final = 60.0
_TOKEN_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class _Cached:
    token: str
    renew_at: float


_cache: dict[tuple[str, str, tuple[str, ...]], _Cached] = {}
_lock = threading.Lock()


def parse_scopes(text: str, default: Sequence[str] = READ_WRITE_SCOPES) -> tuple[str, ...]:
    """`purchases/read,purchases/write` (commas or spaces) as a tuple; empty text means `default`.

    Raises ToolingError for a scope the resource server does not define, or the admin scope alone (it only widens
    read and write, so a token with nothing else could call nothing)."""
    scopes = tuple(part for part in text.replace(",", " ").split() if part) or tuple(default)
    unknown = sorted(set(scopes) - set(KNOWN_SCOPES))
    if unknown:
        raise ToolingError(f"Unknown scope(s) {', '.join(unknown)}: choose from {', '.join(KNOWN_SCOPES)}.")
    if set(scopes) == {ADMIN_SCOPE}:
        raise ToolingError(f"{ADMIN_SCOPE} widens {READ_SCOPE} and {WRITE_SCOPE}: add one or both of them.")
    return scopes


def development_client_id(outputs: Mapping[str, Any]) -> str:
    client_id = outputs.get("DevelopmentClientId")
    if not client_id:
        stage = outputs.get("Stage", "?")
        raise ToolingError(
            f"Stage {stage} has no development client (prod never has one). Create a client for your "
            f"service with `invoke consumer.create <service> --stage {stage}` and use its credentials."
        )
    return str(client_id)


def access_token(
    engine: Engine,
    outputs: Mapping[str, Any],
    scopes: Sequence[str] = READ_WRITE_SCOPES,
    *,
    client_id: str | None = None,
) -> str:
    """A bearer access token for `client_id` (default: the stage's development client) with `scopes`.

    `outputs` are the reachable outputs (`invoke outputs --json`): `UserPoolId` and `TokenUrl` come from there.
    Raises ToolingError with what to do when the engine, the stack or the client is not there.
    """
    for name in ("UserPoolId", "TokenUrl"):
        if not outputs.get(name):
            raise ToolingError(
                f"The stack outputs have no {name}: the stack predates authentication; deploy it again "
                "(`invoke up`, or `invoke deploy --stage ...`)."
            )
    client = client_id or development_client_id(outputs)
    wanted = tuple(sorted(set(scopes)))
    key = (str(outputs["TokenUrl"]), client, wanted)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and time.monotonic() < cached.renew_at:
            return cached.token
    secret = client_secret(engine, str(outputs["UserPoolId"]), client)
    token, lifetime = request_token(str(outputs["TokenUrl"]), client, secret, wanted)
    with _lock:
        _cache[key] = _Cached(token, time.monotonic() + max(0.0, lifetime - RENEW_BEFORE_SECONDS))
    return token


def authorization_header(
    engine: Engine, outputs: Mapping[str, Any], scopes: Sequence[str] = READ_WRITE_SCOPES
) -> dict[str, str]:
    """`{"Authorization": "Bearer <token>"}` for the development client."""
    return {"Authorization": f"Bearer {access_token(engine, outputs, scopes)}"}


def forget_tokens() -> None:
    """Drop every cached token (tests that revoke clients call it)."""
    with _lock:
        _cache.clear()


def describe_app_client(engine: Engine, user_pool_id: str, client_id: str) -> dict[str, Any] | None:
    """The app client as Cognito describes it, or None when the pool has no such client; a ToolingError when
    Cognito cannot be asked."""
    try:
        described: dict[str, Any] = engine.client("cognito-idp").describe_user_pool_client(
            UserPoolId=user_pool_id, ClientId=client_id
        )["UserPoolClient"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return None
        raise ToolingError(f"Cannot read app client {client_id} ({code}): check your credentials.") from None
    except BotoCoreError as error:
        raise ToolingError(f"{engine.name} is not answering ({error}): run `invoke up` first.") from None
    return described


def client_secret(engine: Engine, user_pool_id: str, client_id: str) -> str:
    """The app client's secret, read through the Cognito API with the caller's own credentials."""
    described = describe_app_client(engine, user_pool_id, client_id)
    if described is None:
        raise ToolingError(
            f"App client {client_id} is not in user pool {user_pool_id}: deploy the stack again."
        )
    secret: str | None = described.get("ClientSecret")
    if not secret:
        raise ToolingError(f"App client {client_id} has no secret; client credentials need one.")
    return secret


def request_token(token_url: str, client_id: str, secret: str, scopes: Sequence[str]) -> tuple[str, float]:
    """POST the client-credentials grant (client_secret_basic); returns the access token and its lifetime (s)."""
    credentials = base64.b64encode(
        f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}".encode()
    ).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": " ".join(scopes)}).encode()
    request = urllib.request.Request(
        token_url,
        data=form,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {credentials}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=_TOKEN_TIMEOUT) as reply:
            document = json.load(reply)
    except urllib.error.HTTPError as error:
        # The OAuth error code says what is wrong (invalid_scope, invalid_client, ...); it never holds the secret.
        try:
            problem = json.loads(error.read()).get("error", "")
        except ValueError:
            problem = ""
        raise ToolingError(
            f"The token endpoint {token_url} refused the request ({error.code} {problem or error.reason})."
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise ToolingError(
            f"The token endpoint {token_url} is not reachable ({error}): is the engine running (`invoke up`)?"
        ) from None
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise ToolingError(f"The token endpoint {token_url} answered without an access token.")
    return token, float(document.get("expires_in", 3600))
