"""The change feed's rules and fan-out, with in-memory ports: what each table change tells a client, that only
public fields leave, that a change reaches only its owner's connections and the admins' (and only those are read),
that connections whose token expired or whose client was removed are closed (on a push, and by the sweep), that the
pool is listed once for many batches, that a client holds a bounded number of connections, that the notifier stops
before its time runs out, and that one slow or gone client never keeps the others from their messages."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from purchases.adapters.dynamodb import CLIENT_ID
from purchases.changes import OWNER, ChangeType, change_type, encode_notification, notification, owner
from purchases.notifications import (
    Change,
    ClientRoster,
    Connection,
    ConnectOutcome,
    FanOutReport,
    PushOutcome,
    SweepReport,
    admit,
    authorizer_context,
    connection_of,
    fan_out,
    sweep,
)
from purchases.tokens import Caller

LIVE = {
    "ProductPurchaseId": "4f7c8a0e-1b2c-4d5e-8f90-123456789abc",
    "ProductId": "sku-1",
    "ProductName": "Belt",
    "Category": "Accessories",
    "PricePerUnit": Decimal("10.5"),
    "Quantity": Decimal("2"),
    "TotalPrice": Decimal("21"),
    "CustomerId": "c-1",
    "CustomerName": "Ada",
    "TimeOfPurchase": "2021-01-31T16:23:42.389Z",
    "Version": Decimal("1700000000000000000"),
    "ClientId": "dev-client",
}
TOMBSTONE = {
    "ProductPurchaseId": LIVE["ProductPurchaseId"],
    "Deleted": True,
    "Version": 2,
    "ExpiresAt": 9,
    "ClientId": "dev-client",
}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, LIVE, ChangeType.CREATED),
        (LIVE, {**LIVE, "Quantity": 3}, ChangeType.UPDATED),
        (LIVE, TOMBSTONE, ChangeType.DELETED),
        (None, TOMBSTONE, ChangeType.DELETED),  # a delete that overtook its create
        (LIVE, None, ChangeType.DELETED),  # an item removed outright
        (TOMBSTONE, None, None),  # a tombstone expiring by TTL: already deleted
        (TOMBSTONE, TOMBSTONE, None),
    ],
)
def test_given_a_table_change_then_its_type_is_what_a_client_saw_happen(
    old: dict[str, Any] | None, new: dict[str, Any] | None, expected: ChangeType | None
) -> None:
    assert change_type(old, new) == expected


def test_given_a_write_then_the_message_carries_only_the_public_fields_exactly() -> None:
    message = notification(None, LIVE)
    assert message is not None
    assert set(message) == {"type", "ProductPurchaseId", "purchase"}
    assert "Version" not in message["purchase"] and "ClientId" not in message["purchase"]
    decoded = json.loads(encode_notification(message), parse_float=Decimal)
    assert decoded["type"] == "purchase.created"
    assert decoded["purchase"]["PricePerUnit"] == Decimal("10.5")
    assert decoded["purchase"]["Quantity"] == 2


def test_given_a_delete_then_the_message_has_no_purchase() -> None:
    assert notification(LIVE, TOMBSTONE) == {
        "type": "purchase.deleted",
        "ProductPurchaseId": LIVE["ProductPurchaseId"],
    }


NOW = 1_700_000_000.0
LATER = int(NOW) + 3600


def conn(
    connection_id: str, client: str = "dev-client", *, admin: bool = False, exp: int = LATER
) -> Connection:
    return Connection(connection_id, client, admin, exp)


def of(owner: str | None, *payloads: bytes) -> list[Change]:
    return [Change(owner, payload) for payload in payloads]


class MemoryStore:
    def __init__(self, connections: list[Connection]) -> None:
        self.records = {connection.connection_id: connection for connection in connections}
        self.forgotten: list[str] = []
        # The owners each batch asked for.
        self.asked_for: list[set[str]] = []
        self.lock = threading.Lock()

    def recipients(self, owners: Any) -> list[Connection]:
        self.asked_for.append(set(owners))
        return [c for c in self.records.values() if c.client_id in owners or c.admin]

    def every_connection(self) -> list[Connection]:
        return list(self.records.values())

    def claim(self, connection: Connection, *, limit: int, now: float, connected_at_ms: int) -> bool:
        with self.lock:
            held = sum(
                1 for c in self.records.values() if c.client_id == connection.client_id and not c.expired(now)
            )
            if held >= limit:
                return False
            self.records[connection.connection_id] = connection
            return True

    def forget(self, connection_id: str) -> None:
        self.forgotten.append(connection_id)
        self.records.pop(connection_id, None)


class ScriptedPusher:
    """Delivers to every connection except those told to be gone or to fail (on the nth message)."""

    def __init__(self, gone: set[str] = frozenset(), fail_at: dict[str, int] | None = None) -> None:  # type: ignore[assignment]
        self.gone = gone
        self.fail_at = fail_at or {}
        self.delivered: dict[str, list[bytes]] = {}
        self.closed: list[str] = []
        self.lock = threading.Lock()

    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        with self.lock:
            got = self.delivered.setdefault(connection_id, [])
            if connection_id in self.gone:
                return PushOutcome.GONE
            if self.fail_at.get(connection_id) == len(got):
                return PushOutcome.FAILED
            got.append(data)
            return PushOutcome.DELIVERED

    def disconnect(self, connection_id: str) -> None:
        with self.lock:
            self.closed.append(connection_id)


class Directory:
    """The user pool's app clients: every client named by a connection here but `removed`; `unreadable`: the pool
    cannot be listed. Counts the listings."""

    def __init__(
        self,
        present: set[str] | None = None,
        *,
        removed: frozenset[str] = frozenset(),
        unreadable: bool = False,
    ) -> None:
        self.present = present
        self.removed = removed
        self.unreadable = unreadable
        self.listings = 0

    def present_clients(self) -> frozenset[str]:
        self.listings += 1
        if self.unreadable:
            raise ConnectionError("cognito unreachable")
        known = (
            self.present if self.present is not None else {"dev-client", "A", "B", "ops", "kept", "removed"}
        )
        return frozenset(known - self.removed)


def run(
    changes: list[Change],
    store: MemoryStore,
    pusher: ScriptedPusher | Any,
    directory: Directory | None = None,
    *,
    now: float = NOW,
    time_left: Any = lambda: 60.0,
) -> FanOutReport:
    roster = ClientRoster(directory or Directory(), max_age=30.0)
    return fan_out(changes, store, pusher, roster, now=now, time_left=time_left, reserve_seconds=5.0)


def test_given_connections_then_each_gets_every_message_in_order_and_the_gone_are_forgotten() -> None:
    store = MemoryStore([conn("a"), conn("b"), conn("gone"), conn("flaky")])
    pusher = ScriptedPusher(gone={"gone"}, fail_at={"flaky": 1})
    messages = [b"1", b"2", b"3"]

    report = run(of("dev-client", *messages), store, pusher)

    assert pusher.delivered["a"] == messages and pusher.delivered["b"] == messages
    # The failing client got what came before its failure and nothing after it: never out of order
    assert pusher.delivered["flaky"] == [b"1"]
    assert store.forgotten == ["gone"] and report.gone == ["gone"] and report.failed == ["flaky"]
    assert report.delivered == 7 and report.connections == 4


def test_given_no_message_then_the_connections_are_not_even_read() -> None:
    class Unreadable(MemoryStore):
        def recipients(self, owners: Any) -> list[Connection]:
            raise AssertionError("read")

    assert run([], Unreadable([]), ScriptedPusher()).connections == 0


def test_given_one_client_stuck_then_the_others_are_served_meanwhile() -> None:
    store = MemoryStore([conn("stuck"), *(conn(f"c{n}") for n in range(5))])
    others_served = threading.Event()
    served: set[str] = set()
    lock = threading.Lock()

    class Pusher(ScriptedPusher):
        def push(self, connection_id: str, data: bytes) -> PushOutcome:
            if connection_id == "stuck":
                # Blocks until every other client has its message; a sequential fan-out would never get there.
                return PushOutcome.DELIVERED if others_served.wait(timeout=10) else PushOutcome.FAILED
            with lock:
                served.add(connection_id)
                if len(served) == 5:
                    others_served.set()
            return PushOutcome.DELIVERED

    report = run(of("dev-client", b"x"), store, Pusher())
    assert report.failed == [] and report.delivered == 6


def test_given_two_clients_then_each_change_reaches_only_its_owners_connections_and_the_admins() -> None:
    # Given connections of clients A and B, and an admin connection of a third client
    store = MemoryStore([conn("a1", "A"), conn("a2", "A"), conn("b1", "B"), conn("root", "ops", admin=True)])
    pusher = ScriptedPusher()
    # When A's purchase and B's purchase change, and an item with no owner (written before owners existed)
    report = run([*of("A", b"a-change"), *of("B", b"b-change"), *of(None, b"legacy")], store, pusher)
    # Then only the owners' connections and the admins' were read
    assert store.asked_for == [{"A", "B"}]
    # And each client receives only its own change, and the admin receives all of them, in order
    assert pusher.delivered == {
        "a1": [b"a-change"],
        "a2": [b"a-change"],
        "b1": [b"b-change"],
        "root": [b"a-change", b"b-change", b"legacy"],
    }
    assert report.recipients == 4 and report.delivered == 6


def test_given_a_change_nobody_connected_owns_then_nothing_is_pushed_and_nobody_looked_up() -> None:
    store, pusher, directory = MemoryStore([conn("b1", "B")]), ScriptedPusher(), Directory()
    report = run(of("A", b"a-change"), store, pusher, directory)
    assert pusher.delivered == {} and directory.listings == 0 and report.recipients == 0
    # B's connection was not even read
    assert report.connections == 0


@pytest.mark.parametrize("admin", [False, True])
def test_given_a_connection_whose_token_expired_then_it_is_closed_and_forgotten_not_served(
    admin: bool,
) -> None:
    # Given a connection whose token expired a second ago, beside one whose token is still valid
    store = MemoryStore(
        [conn("stale", "A", admin=admin, exp=int(NOW) - 1), conn("fresh", "A", exp=int(NOW) + 1)]
    )
    pusher = ScriptedPusher()
    # When a change of its client is pushed
    report = run(of("A", b"x"), store, pusher)
    # Then the expired one receives nothing, is closed through the management API and forgotten
    assert "stale" not in pusher.delivered and pusher.closed == ["stale"]
    assert store.forgotten == ["stale"] and report.expired == ["stale"]
    # And the valid one is served
    assert pusher.delivered["fresh"] == [b"x"]


def test_given_a_removed_client_then_its_connections_are_closed_and_the_pool_is_listed_once() -> None:
    # Given two connections of a client that has since been removed from the user pool, and one of a client still there
    store = MemoryStore([conn("r1", "removed"), conn("r2", "removed"), conn("k1", "kept")])
    pusher, directory = ScriptedPusher(), Directory(removed=frozenset({"removed"}))
    # When changes of both clients are pushed
    report = run([*of("removed", b"r"), *of("kept", b"k")], store, pusher, directory)
    # Then the removed client's connections are closed and forgotten, unserved
    assert sorted(pusher.closed) == ["r1", "r2"] and sorted(report.removed) == ["r1", "r2"]
    assert sorted(store.forgotten) == ["r1", "r2"] and set(pusher.delivered) == {"k1"}
    # And the user pool was listed once for the batch, not once per client or connection
    assert directory.listings == 1


def test_given_the_user_pool_cannot_be_listed_then_its_clients_are_skipped_not_closed() -> None:
    store, pusher = MemoryStore([conn("a1", "A"), conn("b1", "B")]), ScriptedPusher()
    report = run([*of("A", b"a"), *of("B", b"b")], store, pusher, Directory(unreadable=True))
    assert sorted(report.failed) == ["a1", "b1"] and pusher.closed == [] and store.forgotten == []
    assert pusher.delivered == {}


def test_given_the_time_runs_low_then_nothing_more_is_pushed_and_the_rest_is_reported_unfinished() -> None:
    # Given an invocation with time for exactly two pushes before its reserve
    store, pusher = MemoryStore([conn("a1", "A")]), ScriptedPusher()
    clock = iter([60.0, 60.0, 30.0, 5.0, 4.0])

    # When three messages are due
    report = run(of("A", b"1", b"2", b"3"), store, pusher, time_left=lambda: next(clock))

    # Then the first two are pushed, the third is not, and the connection is reported unfinished
    assert pusher.delivered["a1"] == [b"1", b"2"] and report.unfinished == ["a1"]


def test_given_the_time_is_already_low_then_no_client_is_looked_up_or_served() -> None:
    store, pusher, directory = MemoryStore([conn("a1", "A")]), ScriptedPusher(), Directory()
    report = run(of("A", b"1"), store, pusher, directory, time_left=lambda: 5.0)
    assert report.unfinished == ["a1"] and directory.listings == 0 and pusher.delivered == {}


def test_given_the_item_owner_then_the_change_names_it_from_either_image() -> None:
    assert OWNER == CLIENT_ID  # the purchase table's attribute, as the writer stores it
    assert owner(None, LIVE) == "dev-client"
    assert owner({**LIVE, "ClientId": "A"}, {**TOMBSTONE, "ClientId": "A"}) == "A"
    assert owner({**LIVE, "ClientId": "A"}, None) == "A"  # an item removed outright
    legacy = {name: value for name, value in TOMBSTONE.items() if name != "ClientId"}
    assert owner(None, legacy) is None  # written before purchases had owners


# ---------------------------------------------------------------- $connect


def test_given_the_authorizers_context_then_the_connection_carries_owner_admin_flag_and_expiry() -> None:
    caller = Caller(client_id="A", scopes=frozenset({"purchases/read", "purchases/admin"}), expires_at=LATER)
    context = authorizer_context(caller, "purchases/admin")
    assert context == {"clientId": "A", "admin": "true", "tokenExpiresAt": str(LATER)}
    # MiniStack and API Gateway add principalId beside it
    assert connection_of("c1", {**context, "principalId": "A"}) == Connection("c1", "A", True, LATER)
    reader = Caller(client_id="B", scopes=frozenset({"purchases/read"}), expires_at=LATER)
    assert connection_of("c2", authorizer_context(reader, "purchases/admin")) == Connection(
        "c2", "B", False, LATER
    )


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"principalId": "A"},  # an older authorizer's context
        {"clientId": "", "admin": "false", "tokenExpiresAt": str(LATER)},
        {"clientId": "A", "admin": "maybe", "tokenExpiresAt": str(LATER)},
        {"clientId": "A", "admin": "false", "tokenExpiresAt": "soon"},
        {"clientId": "A", "admin": "false", "tokenExpiresAt": "-5"},
        {"clientId": 7, "admin": "false", "tokenExpiresAt": str(LATER)},
    ],
)
def test_given_a_context_the_authorizer_never_makes_then_there_is_no_connection(
    context: dict[str, Any],
) -> None:
    assert connection_of("c1", context) is None


def test_given_a_client_at_its_limit_then_the_next_connection_is_refused_and_nothing_written() -> None:
    # Given a client holding 2 live connections (and 1 whose token expired, which does not count), with a limit of 2
    store = MemoryStore(
        [conn("a1", "A"), conn("a2", "A"), conn("old", "A", exp=int(NOW) - 10), conn("b1", "B")]
    )
    # When it opens a third
    outcome = admit(conn("a3", "A"), store, limit=2, now=NOW, connected_at_ms=int(NOW * 1000))
    # Then it is refused and not recorded
    assert outcome is ConnectOutcome.TOO_MANY and "a3" not in store.records
    # While another client under the limit is admitted and recorded
    assert admit(conn("b2", "B"), store, limit=2, now=NOW, connected_at_ms=0) is ConnectOutcome.ADMITTED
    assert store.records["b2"] == conn("b2", "B")


def test_given_an_expired_token_or_no_client_then_the_connection_is_invalid_and_nothing_written() -> None:
    store = MemoryStore([])
    assert (
        admit(conn("x", "A", exp=int(NOW)), store, limit=5, now=NOW, connected_at_ms=0)
        is ConnectOutcome.INVALID
    )
    assert admit(conn("y", ""), store, limit=5, now=NOW, connected_at_ms=0) is ConnectOutcome.INVALID
    assert store.records == {}


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CONNECTION_TABLE", "unit-test-connections")
    monkeypatch.setenv("CONNECTION_LEASE_TABLE", "unit-test-leases")
    monkeypatch.setenv("MAX_CONNECTIONS_PER_CLIENT", "2")
    import connections as module
    from purchases.config import ConnectionsConfig

    # The module reads its configuration once, at first import: the limit under test is set here.
    monkeypatch.setattr(module, "config", ConnectionsConfig("unit-test-connections", "unit-test-leases", 2))
    yield module
    module.store.override(None)


def _connect_event(connection_id: str, authorizer: Any) -> dict[str, Any]:
    return {
        "requestContext": {
            "routeKey": "$connect",
            "connectionId": connection_id,
            "connectedAt": 1_700_000_000_000,
            "authorizer": authorizer,
        }
    }


def test_given_the_connect_route_then_the_limit_is_a_429_and_a_bad_context_a_403_with_nothing_written(
    connections: Any, lambda_context: Any
) -> None:
    store = MemoryStore([])
    connections.store.override(store)
    future = str(int(time.time()) + 600)
    context = {"clientId": "A", "admin": "false", "tokenExpiresAt": future, "principalId": "A"}
    # Given two connections of client A admitted
    for connection_id in ("a1", "a2"):
        assert connections.lambda_handler(_connect_event(connection_id, context), lambda_context) == {
            "statusCode": 200
        }
    assert store.records["a1"].token_expires_at == int(future)
    # When a third opens, Then it is refused with 429 and not recorded
    answer = connections.lambda_handler(_connect_event("a3", context), lambda_context)
    assert answer["statusCode"] == 429 and "a3" not in store.records
    # And contexts the authorizer never makes are refused with 403, writing nothing
    for bad in (None, "text", {"principalId": "A"}, {**context, "tokenExpiresAt": "1"}):
        answer = connections.lambda_handler(_connect_event("x", bad), lambda_context)
        assert answer["statusCode"] == 403 and "x" not in store.records


def _stream_event(*changes: tuple[str, dict[str, Any] | None, dict[str, Any] | None]) -> dict[str, Any]:
    """A DynamoDB stream event as Lambda delivers it: images in DynamoDB's typed JSON."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()

    def typed(image: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if image is None else {name: serializer.serialize(value) for name, value in image.items()}

    records = []
    for number, (event_name, old, new) in enumerate(changes):
        change: dict[str, Any] = {"Keys": {"ProductPurchaseId": {"S": LIVE["ProductPurchaseId"]}}}
        change["SequenceNumber"] = str(number)
        change["StreamViewType"] = "NEW_AND_OLD_IMAGES"
        if old is not None:
            change["OldImage"] = typed(old)
        if new is not None:
            change["NewImage"] = typed(new)
        records.append({"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": change})
    return {"Records": records}


@pytest.fixture
def notifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CONNECTION_TABLE", "unit-test-connections")
    monkeypatch.setenv("CONNECTION_LEASE_TABLE", "unit-test-leases")
    monkeypatch.setenv("NOTIFICATION_API_ID", "abc123")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("USER_POOL_ID", "us-east-1_Pool")
    import notifier as module

    module.clients.override(ClientRoster(Directory(), max_age=30.0))
    yield module
    module.store.override(None)
    module.pusher.override(None)
    module.clients.override(None)


def test_given_a_stream_batch_then_the_notifier_pushes_one_message_per_visible_change_in_order(
    notifier: Any, lambda_context: Any
) -> None:
    valid = int(time.time()) + 600
    store = MemoryStore([conn("c1", "dev-client", exp=valid), conn("other", "B", exp=valid)])
    pusher = ScriptedPusher()
    notifier.store.override(store)
    notifier.pusher.override(pusher)
    updated = {**LIVE, "Quantity": Decimal("3"), "TotalPrice": Decimal("31.5")}
    event = _stream_event(
        ("INSERT", None, LIVE),
        ("MODIFY", LIVE, updated),
        ("MODIFY", updated, TOMBSTONE),
        ("REMOVE", TOMBSTONE, None),  # the tombstone's TTL expiry: nothing to tell
    )
    notifier.lambda_handler(event, lambda_context)
    # The owner's connection receives the changes; another client's receives none of them
    assert "other" not in pusher.delivered
    messages = [json.loads(data, parse_float=Decimal) for data in pusher.delivered["c1"]]
    assert [m["type"] for m in messages] == ["purchase.created", "purchase.updated", "purchase.deleted"]
    assert messages[1]["purchase"]["Quantity"] == 3 and messages[1]["purchase"]["TotalPrice"] == Decimal(
        "31.5"
    )
    assert "Version" not in messages[0]["purchase"]


def test_given_too_little_time_then_the_notifier_fails_the_batch_so_it_is_retried(
    notifier: Any, lambda_context: Any
) -> None:
    # Given an invocation with less time left than the notifier keeps in reserve
    store, pusher = MemoryStore([conn("c1", "dev-client", exp=int(time.time()) + 600)]), ScriptedPusher()
    notifier.store.override(store)
    notifier.pusher.override(pusher)
    lambda_context.remaining_ms = 1_000
    # When a change arrives, Then nothing is pushed and the batch fails (the event source retries and bisects it)
    with pytest.raises(notifier.UnfinishedBatch):
        notifier.lambda_handler(_stream_event(("INSERT", None, LIVE)), lambda_context)
    assert pusher.delivered == {}


# ---------------------------------------------------------------- the pool's clients, listed once for many batches


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_given_a_fresh_listing_then_present_clients_cost_no_call_until_it_is_older_than_its_max_age() -> None:
    clock, directory = Clock(), Directory({"A", "B"})
    roster = ClientRoster(directory, max_age=30.0, clock=clock)
    # Given one listing
    assert roster.exists("A", read_at=clock.now)
    # When clients it names are asked about during its max age, Then the pool is not listed again
    clock.now += 29
    assert roster.exists("B", read_at=clock.now) and roster.exists("A", read_at=clock.now)
    assert directory.listings == 1
    # And past it, the next question lists the pool again
    clock.now += 2
    assert roster.exists("A", read_at=clock.now) and directory.listings == 2


def test_given_a_client_missing_from_an_older_listing_then_the_pool_is_listed_again_before_it_counts_removed() -> (
    None
):
    clock, directory = Clock(), Directory({"A"})
    roster = ClientRoster(directory, max_age=30.0, clock=clock)
    assert roster.exists("A", read_at=clock.now)
    # Given a client created after the listing, whose connection was read later
    directory.present = {"A", "new"}
    clock.now += 5
    # When it is asked about, Then the pool is listed again and the client is present (never closed as removed)
    assert roster.exists("new", read_at=clock.now) and directory.listings == 2
    # And a client missing from a listing made after its connection was read is removed, without another listing
    assert not roster.exists("gone", read_at=clock.now - 1) and directory.listings == 2


# ---------------------------------------------------------------- the sweep


def swept(
    store: MemoryStore, pusher: ScriptedPusher, directory: Directory, time_left: Any = lambda: 30.0
) -> SweepReport:
    return sweep(store, pusher, directory, now=NOW, time_left=time_left, reserve_seconds=10.0)


def test_given_idle_connections_then_the_sweep_closes_expired_tokens_and_removed_clients_and_keeps_the_rest() -> (
    None
):
    # Given connections with a token that expired, one expiring within the sweep's lead, one expiring after the
    # next sweep, one of a removed client, one without an owner, and an admin's
    store = MemoryStore(
        [
            conn("expired", "A", exp=int(NOW) - 1),
            conn("ending", "A", exp=int(NOW) + 10),
            conn("valid", "A", exp=int(NOW) + 120),
            conn("orphan", "removed"),
            conn("ownerless", ""),
            conn("root", "ops", admin=True),
        ]
    )
    pusher = ScriptedPusher()
    # When the sweep runs, with no change to push
    report = swept(store, pusher, Directory(removed=frozenset({"removed"})))
    # Then the expired, ending, removed and ownerless connections are closed and forgotten; nothing is pushed
    assert sorted(report.expired) == ["ending", "expired"]
    assert sorted(report.removed) == ["orphan", "ownerless"]
    assert sorted(pusher.closed) == sorted(store.forgotten) == ["ending", "expired", "orphan", "ownerless"]
    assert set(store.records) == {"valid", "root"} and pusher.delivered == {}


def test_given_the_pool_cannot_be_listed_then_the_sweep_still_closes_expired_tokens_and_no_other() -> None:
    store = MemoryStore([conn("expired", "A", exp=int(NOW) - 1), conn("a1", "A"), conn("b1", "B")])
    pusher = ScriptedPusher()
    report = swept(store, pusher, Directory(unreadable=True))
    assert pusher.closed == ["expired"] and report.removed == []
    assert "ConnectionError" in report.clients_error


def test_given_the_time_runs_low_then_the_sweep_stops_and_leaves_the_rest_for_the_next_run() -> None:
    store = MemoryStore([conn(f"e{n}", "A", exp=int(NOW) - 1) for n in range(4)])
    pusher = ScriptedPusher()
    clock = iter([30.0, 30.0, 9.0, 9.0, 9.0])
    report = swept(store, pusher, Directory(), time_left=lambda: next(clock))
    assert len(pusher.closed) == 2 and report.unfinished == 2 and len(store.records) == 2


def test_each_change_and_each_push_is_logged_with_what_ties_it_to_its_write(
    notifier: Any, lambda_context: Any
) -> None:
    buffer = io.StringIO()
    handler = notifier.logger.registered_handler
    previous = handler.setStream(buffer)
    # Given two connections of the owner, and a change written by the write stamped 7
    valid = int(time.time()) + 600
    notifier.store.override(
        MemoryStore([conn("c1", "dev-client", exp=valid), conn("c2", "dev-client", exp=valid)])
    )
    notifier.pusher.override(ScriptedPusher(gone={"c2"}))
    # When the notifier handles it
    try:
        notifier.lambda_handler(
            _stream_event(("INSERT", None, {**LIVE, "Version": Decimal(7)})), lambda_context
        )
    finally:
        handler.setStream(previous)
    # Then the change's line names the purchase and the write's stamp, and each push its connection and outcome
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    [change] = [line for line in lines if line["message"] == "Change to notify"]
    assert (change["purchase_id"], change["stamp"], change["change"]) == (
        LIVE["ProductPurchaseId"],
        7,
        "purchase.created",
    )
    pushes = sorted(
        (line["connection_id"], line["outcome"], line["purchase_id"])
        for line in lines
        if line["message"] == "Change pushed"
    )
    assert pushes == [
        ("c1", "delivered", LIVE["ProductPurchaseId"]),
        ("c2", "gone", LIVE["ProductPurchaseId"]),
    ]
    assert all(line["function_request_id"] == change["function_request_id"] for line in lines)
