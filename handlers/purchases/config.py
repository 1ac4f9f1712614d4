"""Typed configuration read once from the function's environment.

Each handler reads only the variables it needs, so a missing variable fails that function's cold
start with a message naming it instead of failing later inside a request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

PRODUCTION_STAGE = "prod"


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration."""


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is missing or empty")
    return value


def _probability(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name, "").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number between 0 and 1") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"environment variable {name} must be a number between 0 and 1")
    return value


@dataclass(frozen=True, slots=True)
class SenderConfig:
    queue_url: str
    table_name: str
    idempotency_table_name: str
    # The KMS HMAC key the sender signs each queued write with (`purchases.signing`).
    signing_key_id: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SenderConfig:
        return cls(
            queue_url=_required(environ, "QUEUE_URL"),
            table_name=_required(environ, "TABLE_NAME"),
            idempotency_table_name=_required(environ, "IDEMPOTENCY_TABLE_NAME"),
            signing_key_id=_required(environ, "WRITE_SIGNING_KEY_ID"),
        )


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    table_name: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ReaderConfig:
        return cls(table_name=_required(environ, "TABLE_NAME"))


@dataclass(frozen=True, slots=True)
class WriterConfig:
    table_name: str
    # The KMS HMAC key whose MAC every write message must carry to be applied (`purchases.signing`).
    signing_key_id: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> WriterConfig:
        return cls(
            table_name=_required(environ, "TABLE_NAME"),
            signing_key_id=_required(environ, "WRITE_SIGNING_KEY_ID"),
        )


@dataclass(frozen=True, slots=True)
class WriterHooksConfig:
    """The test hooks of the writer's non-prod entry point (`writer_with_hooks`), all off unless set."""

    stage: str
    fault_rate: float
    crash_rate: float
    # The correlation id of write messages the writer treats as slow on their first delivery.
    slow_marker: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> WriterHooksConfig:
        config = cls(
            stage=_required(environ, "STAGE"),
            fault_rate=_probability(environ, "WRITER_FAULT_RATE"),
            crash_rate=_probability(environ, "WRITER_CRASH_RATE"),
            slow_marker=environ.get("WRITER_SLOW_MARKER", "").strip(),
        )
        # The template refuses these for prod too; checking again here means a hand-edited
        # function configuration cannot make production drop writes on purpose.
        if config.stage == PRODUCTION_STAGE and (config.fault_rate or config.crash_rate):
            raise ConfigurationError("WRITER_FAULT_RATE and WRITER_CRASH_RATE must be 0 when STAGE is prod")
        if config.stage == PRODUCTION_STAGE and config.slow_marker:
            raise ConfigurationError("WRITER_SLOW_MARKER must be empty when STAGE is prod")
        return config


# ---------------------------------------------------------------- real-time notifications
# API Gateway closes a WebSocket after 2 hours; a connection record lives a little longer, then expires by TTL
# even when its $disconnect was lost.
CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60 + 10 * 60
REQUIRED_READ_SCOPE = "purchases/read"
# What the notifier keeps back of its time: a push can take 3 s (1 s to connect, 2 s to read), and what is not
# pushed must still be reported before the function times out.
NOTIFIER_RESERVE_SECONDS = 5.0
# How long the notifier trusts one listing of the pool's app clients. A removed client's connections may receive
# changes this long; the sweep closes them within a minute anyway.
CLIENT_LISTING_MAX_AGE_SECONDS = 30.0
# What the sweep keeps back of its time: one close is three calls of at most 3 s each.
SWEEP_RESERVE_SECONDS = 10.0


def _positive_integer(environ: Mapping[str, str], name: str) -> int:
    raw = _required(environ, name)
    if not raw.isdecimal() or int(raw) < 1:
        raise ConfigurationError(f"environment variable {name} must be a whole number of at least 1")
    return int(raw)


@dataclass(frozen=True, slots=True)
class ConnectionsConfig:
    connection_table: str
    # Each client's leases: its places under the connection limit.
    lease_table: str
    # Open connections one app client may hold; the next is refused at $connect.
    max_connections_per_client: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ConnectionsConfig:
        return cls(
            connection_table=_required(environ, "CONNECTION_TABLE"),
            lease_table=_required(environ, "CONNECTION_LEASE_TABLE"),
            max_connections_per_client=_positive_integer(environ, "MAX_CONNECTIONS_PER_CLIENT"),
        )


def _management_endpoint(environ: Mapping[str, str]) -> str:
    """The @connections management endpoint of the WebSocket API's stage."""
    api_id = _required(environ, "NOTIFICATION_API_ID")
    stage = _required(environ, "STAGE")
    emulator = environ.get("AWS_ENDPOINT_URL", "").strip().rstrip("/")
    if emulator:
        # On an emulator the event's domainName names a host nothing resolves; the engine serves the API
        # under its own endpoint instead.
        return f"{emulator}/_aws/execute-api/{api_id}/{stage}"
    return f"https://{api_id}.execute-api.{_required(environ, 'AWS_REGION')}.amazonaws.com/{stage}"


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """The notifier's, and the sweep's: both read, close and forget connections and list the pool's clients."""

    connection_table: str
    lease_table: str
    # The @connections management endpoint of the WebSocket API's stage.
    management_endpoint: str
    # The pool whose app clients own the connections (a removed client's connections are closed).
    user_pool_id: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> NotifierConfig:
        return cls(
            connection_table=_required(environ, "CONNECTION_TABLE"),
            lease_table=_required(environ, "CONNECTION_LEASE_TABLE"),
            management_endpoint=_management_endpoint(environ),
            user_pool_id=_required(environ, "USER_POOL_ID"),
        )


@dataclass(frozen=True, slots=True)
class AuthorizerConfig:
    issuer: str
    jwks_url: str
    required_scope: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> AuthorizerConfig:
        pool_id = _required(environ, "USER_POOL_ID")
        region = _required(environ, "AWS_REGION")
        issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        emulator = environ.get("AWS_ENDPOINT_URL", "").strip().rstrip("/")
        # Tokens name the AWS issuer everywhere; an emulator publishes the pool's keys under its own endpoint.
        jwks_url = (
            f"{emulator}/{pool_id}/.well-known/jwks.json" if emulator else f"{issuer}/.well-known/jwks.json"
        )
        return cls(issuer=issuer, jwks_url=jwks_url, required_scope=REQUIRED_READ_SCOPE)
