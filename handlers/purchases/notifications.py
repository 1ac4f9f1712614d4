"""Who receives which change, and the fan-out of change messages to them, behind small Protocols (no AWS code).

A connection belongs to the app client whose token opened it. It receives the changes to that client's own
purchases (the item's owner, kept on every image of the stream), and an admin connection (a token with the admin
scope) receives every change. A batch reads only its owners' connections and the admins', so idle connections of
other clients cost it nothing. A connection is closed instead of served once its token has expired or its client
has been removed from the user pool: a WebSocket outlives the token checked at $connect, so every push checks
again, and the sweep (`sweep`) closes idle ones within a minute.

Each recipient gets its messages in order, on its own worker: a slow or failing client costs only its own
worker, never another client's delivery. A client API Gateway reports gone is forgotten; one that fails otherwise
misses the rest of this batch (delivering later messages without the failed one would reorder them). When the
invocation's time runs low, nothing more is pushed and what was not pushed is reported, so the batch is retried.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Collection, Mapping, Sequence
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
    def recipients(self, owners: Collection[str]) -> list[Connection]:
        """The connections of the clients `owners` and every admin connection, each once, leaving out records
        past their lifetime; raises when they cannot be read (the batch is then retried)."""
        ...

    def every_connection(self) -> list[Connection]:
        """Every connection record, those past their lifetime included (as expired connections)."""
        ...

    def claim(self, connection: Connection, *, limit: int, now: float, connected_at_ms: int) -> bool:
        """Record `connection` if its client holds fewer than `limit` connections with an unexpired token, decided
        atomically (simultaneous connects of one client never overshoot); False, writing nothing, otherwise."""
        ...

    def forget(self, connection_id: str) -> None:
        """Delete the record and give back its place under the client's limit; never raises."""
        ...


class Pusher(Protocol):
    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        """Send `data` to one connection; never raises."""
        ...

    def disconnect(self, connection_id: str) -> None:
        """Close one connection (API Gateway then runs $disconnect); never raises."""
        ...


class ClientDirectory(Protocol):
    def present_clients(self) -> frozenset[str]:
        """The ids of every app client in the user pool now (a listing: ids and names, never secrets); raises
        when the pool cannot be read."""
        ...


class ClientRoster:
    """Which app clients exist, from one listing of the pool reused for `max_age` seconds, so a batch costs no
    call to the pool however many connections and clients it serves.

    A listing names every client that existed when it was made. A connection read at time T was recorded by a
    client that existed before T, so a listing made after T that lacks its client proves the client removed; an
    older listing that lacks it is only stale (the client may be new), and the pool is listed again."""

    def __init__(
        self, directory: ClientDirectory, *, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._directory = directory
        self._max_age = max_age
        self.clock = clock
        self._present: frozenset[str] | None = None
        self._listed_at = float("-inf")
        self.listings = 0

    def _list(self) -> frozenset[str]:
        listed_at = self.clock()
        self._present = self._directory.present_clients()
        self._listed_at = listed_at
        self.listings += 1
        return self._present

    def exists(self, client_id: str, *, read_at: float) -> bool:
        """Whether `client_id` is in the pool, for a connection read at `read_at` (this roster's clock); raises
        when the pool cannot be listed."""
        present = self._present
        if present is None or self.clock() - self._listed_at > self._max_age:
            present = self._list()
        if client_id in present:
            return True
        if self._listed_at >= read_at:
            return False
        return client_id in self._list()


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
    clients: ClientRoster,
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
    read_at = clients.clock()
    connections = store.recipients({change.owner for change in changes if change.owner is not None})
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
            present = clients.exists(connection.client_id, read_at=read_at)
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
    if not store.claim(connection, limit=limit, now=now, connected_at_ms=connected_at_ms):
        return ConnectOutcome.TOO_MANY
    return ConnectOutcome.ADMITTED


# ---------------------------------------------------------------- the sweep
# A rate(1 minute) schedule runs the sweep within its minute, not on the second (and MiniStack checks its rules
# every 10 s): closing tokens that end within this lead keeps each close within 60 s after the token's exp.
SWEEP_LEAD_SECONDS: Final = 15


@dataclass(slots=True)
class SweepReport:
    connections: int = 0  # records read
    expired: list[str] = field(default_factory=list)  # closed: token (or record) past its end
    removed: list[str] = field(default_factory=list)  # closed: client no longer in the pool
    # Why the pool could not be listed ("" when it was): removed clients were not looked for this time.
    clients_error: str = ""
    # Left for the next sweep: the invocation's time ran low.
    unfinished: int = 0


def sweep(
    store: ConnectionStore,
    pusher: Pusher,
    directory: ClientDirectory,
    *,
    now: float,
    time_left: Callable[[], float],
    reserve_seconds: float,
) -> SweepReport:
    """Close (and forget) every connection whose token expires within SWEEP_LEAD_SECONDS or whose record is past
    its lifetime, and every connection of a client no longer in the pool. The records are read before the pool
    is listed, so a client missing from the listing was removed, not created since."""
    report = SweepReport()
    connections = store.every_connection()
    report.connections = len(connections)
    try:
        present: frozenset[str] | None = directory.present_clients()
    except Exception as error:
        # Expired tokens are still closed; removed clients wait for the next sweep (fail safe: close nothing
        # on a guess).
        present = None
        report.clients_error = f"{type(error).__name__}: {error}"
    for position, connection in enumerate(connections):
        if time_left() <= reserve_seconds:
            report.unfinished = len(connections) - position
            break
        if connection.expired(now + SWEEP_LEAD_SECONDS):
            _close(connection, store, pusher)
            report.expired.append(connection.connection_id)
        elif present is not None and connection.client_id not in present:
            _close(connection, store, pusher)
            report.removed.append(connection.connection_id)
    return report
