"""Who receives which change, and the fan-out of change messages to them, behind small Protocols (no AWS code).

A connection belongs to the app client whose token opened it. It receives the changes to that client's own
purchases (the item's owner, kept on every image of the stream), and an admin connection (a token with the admin
scope) receives every change. A connection is closed instead of served once its token has expired or its client
has been removed from the user pool: a WebSocket outlives the token checked at $connect, so every push checks
again.

Each recipient gets its messages in order, on its own worker: a slow or failing client costs only its own
worker, never another client's delivery. A client API Gateway reports gone is forgotten; one that fails otherwise
misses the rest of this batch (delivering later messages without the failed one would reorder them). When the
invocation's time runs low, nothing more is pushed and what was not pushed is reported, so the batch is retried.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from purchases.ownership import Caller, may_access
from purchases.tokens import Caller as TokenCaller

# Pushes are network calls that mostly wait; more workers than this only add memory.
MAX_PUSH_WORKERS: Final = 16


class PushOutcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # the connection no longer exists (API Gateway's GoneException)
    FAILED = "failed"  # anything else: throttled, timed out, refused


@dataclass(frozen=True, slots=True)
class Connection:
    connection_id: str
    # The app client whose access token opened the connection ("" when the record does not say: served nothing).
    client_id: str
    # The token carried the admin scope: the connection receives every client's changes.
    admin: bool
    # The token's `exp` (epoch seconds): past it, the connection is closed.
    token_expires_at: int

    def expired(self, now: float) -> bool:
        return self.token_expires_at <= now


@dataclass(frozen=True, slots=True)
class Change:
    """One change message and the app client that owns the purchase (None: an item written before purchases had
    owners, which only admins receive)."""

    owner: str | None
    data: bytes


def receives(connection: Connection, change: Change) -> bool:
    """The API's ownership rule, applied to notifications: a client sees its own purchases' changes; an admin
    sees all."""
    return may_access(Caller(connection.client_id, connection.admin), change.owner)


class ConnectionStore(Protocol):
    def connections(self) -> list[Connection]:
        """Every connection whose record has not expired; raises when they cannot be read (the batch is then
        retried)."""
        ...

    def live_connection_count(self, client_id: str, now: float) -> int:
        """How many connections of `client_id` are open with an unexpired token."""
        ...

    def remember(self, connection: Connection, connected_at_ms: int) -> None: ...

    def forget(self, connection_id: str) -> None: ...


class Pusher(Protocol):
    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        """Send `data` to one connection; never raises."""
        ...

    def disconnect(self, connection_id: str) -> None:
        """Close one connection (API Gateway then runs $disconnect); never raises."""
        ...


class ClientDirectory(Protocol):
    def exists(self, client_id: str) -> bool:
        """Whether the app client is still in the user pool; raises when that cannot be told."""
        ...


class CachedDirectory:
    """Asks `directory` once per client id: one question per client and invocation, however many connections."""

    def __init__(self, directory: ClientDirectory) -> None:
        self._directory = directory
        self._known: dict[str, bool] = {}

    def exists(self, client_id: str) -> bool:
        if client_id not in self._known:
            self._known[client_id] = self._directory.exists(client_id)
        return self._known[client_id]


@dataclass(slots=True)
class FanOutReport:
    connections: int = 0  # connections read
    recipients: int = 0  # connections with something to receive
    delivered: int = 0  # messages delivered, summed over connections
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Closed: their token expired or their client was removed.
    expired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Not (fully) served because the invocation ran out of time: the batch must be retried.
    unfinished: list[str] = field(default_factory=list)


class _Stopped(enum.Enum):
    OUT_OF_TIME = "out of time"


def fan_out(
    changes: Sequence[Change],
    store: ConnectionStore,
    pusher: Pusher,
    directory: ClientDirectory,
    *,
    now: float,
    time_left: Callable[[], float],
    reserve_seconds: float,
) -> FanOutReport:
    """Deliver to every connection, in order, the `changes` it may see; close the connections whose token
    expired or whose client is gone; forget the gone ones. Stops pushing once `time_left()` (seconds) falls to
    `reserve_seconds`."""
    report = FanOutReport()
    if not changes:
        return report
    connections = store.connections()
    report.connections = len(connections)
    for connection in connections:
        if connection.expired(now):
            _close(connection, store, pusher)
            report.expired.append(connection.connection_id)
    deliveries = [
        (connection, [change.data for change in changes if receives(connection, change)])
        for connection in connections
        if not connection.expired(now)
    ]
    deliveries = [(connection, messages) for connection, messages in deliveries if messages]
    report.recipients = len(deliveries)
    if not deliveries:
        return report

    clients = CachedDirectory(directory)

    def deliver(item: tuple[Connection, list[bytes]]) -> tuple[Connection, int, PushOutcome | _Stopped]:
        connection, messages = item
        delivered = 0
        for data in messages:
            if time_left() <= reserve_seconds:
                return connection, delivered, _Stopped.OUT_OF_TIME
            outcome = pusher.push(connection.connection_id, data)
            if outcome is not PushOutcome.DELIVERED:
                return connection, delivered, outcome
            delivered += 1
        return connection, delivered, PushOutcome.DELIVERED

    servable: list[tuple[Connection, list[bytes]]] = []
    for connection, messages in deliveries:
        if time_left() <= reserve_seconds:
            report.unfinished.append(connection.connection_id)
            continue
        try:
            present = clients.exists(connection.client_id)
        except Exception:
            # Unknown is not present: skip this client for the batch (fail closed), close nothing.
            report.failed.append(connection.connection_id)
            continue
        if present:
            servable.append((connection, messages))
        else:
            _close(connection, store, pusher)
            report.removed.append(connection.connection_id)
    if servable:
        workers = min(MAX_PUSH_WORKERS, len(servable))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
            results = list(pool.map(deliver, servable))
        for connection, delivered, outcome in results:
            report.delivered += delivered
            if outcome is PushOutcome.GONE:
                store.forget(connection.connection_id)
                report.gone.append(connection.connection_id)
            elif outcome is PushOutcome.FAILED:
                report.failed.append(connection.connection_id)
            elif outcome is _Stopped.OUT_OF_TIME:
                report.unfinished.append(connection.connection_id)
    return report


def _close(connection: Connection, store: ConnectionStore, pusher: Pusher) -> None:
    pusher.disconnect(connection.connection_id)
    # Forgotten now rather than on its $disconnect, which a closed connection may never get to run.
    store.forget(connection.connection_id)


# What the $connect authorizer hands to the $connect route (API Gateway passes its context as strings).
CONTEXT_CLIENT_ID: Final = "clientId"
CONTEXT_ADMIN: Final = "admin"
CONTEXT_TOKEN_EXPIRES_AT: Final = "tokenExpiresAt"


def authorizer_context(caller: TokenCaller, admin_scope: str) -> dict[str, str]:
    return {
        CONTEXT_CLIENT_ID: caller.client_id,
        CONTEXT_ADMIN: "true" if admin_scope in caller.scopes else "false",
        CONTEXT_TOKEN_EXPIRES_AT: str(caller.expires_at),
    }


def connection_of(connection_id: str, context: Mapping[str, Any]) -> Connection | None:
    """The connection the authorizer admitted, from its context; None when the context is not one it makes."""
    client_id = context.get(CONTEXT_CLIENT_ID)
    admin = context.get(CONTEXT_ADMIN)
    expires_at = str(context.get(CONTEXT_TOKEN_EXPIRES_AT, ""))
    if not isinstance(client_id, str) or not client_id or admin not in ("true", "false", True, False):
        return None
    if not expires_at.isdecimal():
        return None
    return Connection(connection_id, client_id, admin in ("true", True), int(expires_at))


class ConnectOutcome(enum.Enum):
    ADMITTED = "admitted"
    TOO_MANY = "too many connections"
    INVALID = "invalid authorizer context"


def admit(
    connection: Connection, store: ConnectionStore, *, limit: int, now: float, connected_at_ms: int
) -> ConnectOutcome:
    """Record `connection` unless its client already holds `limit` live connections (or it is not a valid
    connection of a client with an unexpired token); nothing is written when refused."""
    if not connection.connection_id or not connection.client_id or connection.expired(now):
        return ConnectOutcome.INVALID
    if store.live_connection_count(connection.client_id, now) >= limit:
        return ConnectOutcome.TOO_MANY
    store.remember(connection, connected_at_ms)
    return ConnectOutcome.ADMITTED
