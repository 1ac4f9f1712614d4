"""The change feed's rules and fan-out, with in-memory ports: what each table change tells a client, that only
public fields leave, and that one slow or gone client never keeps the others from their messages."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest

from purchases.changes import ChangeType, change_type, encode_notification, notification
from purchases.notifications import PushOutcome, fan_out

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
TOMBSTONE = {"ProductPurchaseId": LIVE["ProductPurchaseId"], "Deleted": True, "Version": 2, "ExpiresAt": 9}


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


class MemoryStore:
    def __init__(self, ids: list[str]) -> None:
        self.ids = list(ids)
        self.forgotten: list[str] = []

    def connection_ids(self) -> list[str]:
        return list(self.ids)

    def remember(self, connection_id: str, principal: str, connected_at_ms: int) -> None:
        self.ids.append(connection_id)

    def forget(self, connection_id: str) -> None:
        self.forgotten.append(connection_id)
        self.ids.remove(connection_id)


class ScriptedPusher:
    """Delivers to every connection except those told to be gone or to fail (on the nth message)."""

    def __init__(self, gone: set[str] = frozenset(), fail_at: dict[str, int] | None = None) -> None:  # type: ignore[assignment]
        self.gone = gone
        self.fail_at = fail_at or {}
        self.delivered: dict[str, list[bytes]] = {}
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


def test_given_connections_then_each_gets_every_message_in_order_and_the_gone_are_forgotten() -> None:
    store = MemoryStore(["a", "b", "gone", "flaky"])
    pusher = ScriptedPusher(gone={"gone"}, fail_at={"flaky": 1})
    messages = [b"1", b"2", b"3"]

    report = fan_out(messages, store, pusher)

    assert pusher.delivered["a"] == messages and pusher.delivered["b"] == messages
    # The failing client got what came before its failure and nothing after it: never out of order
    assert pusher.delivered["flaky"] == [b"1"]
    assert store.forgotten == ["gone"] and report.gone == ["gone"] and report.failed == ["flaky"]
    assert report.delivered == 7 and report.connections == 4


def test_given_no_message_then_the_connections_are_not_even_read() -> None:
    class Unreadable(MemoryStore):
        def connection_ids(self) -> list[str]:
            raise AssertionError("read")

    assert fan_out([], Unreadable([]), ScriptedPusher()).connections == 0


def test_given_one_client_stuck_then_the_others_are_served_meanwhile() -> None:
    store = MemoryStore(["stuck", *(f"c{n}" for n in range(5))])
    others_served = threading.Event()
    served: set[str] = set()
    lock = threading.Lock()

    class Pusher:
        def push(self, connection_id: str, data: bytes) -> PushOutcome:
            if connection_id == "stuck":
                # Blocks until every other client has its message; a sequential fan-out would never get there.
                return PushOutcome.DELIVERED if others_served.wait(timeout=10) else PushOutcome.FAILED
            with lock:
                served.add(connection_id)
                if len(served) == 5:
                    others_served.set()
            return PushOutcome.DELIVERED

    report = fan_out([b"x"], store, Pusher())
    assert report.failed == [] and report.delivered == 6


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
def notifier(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CONNECTION_TABLE", "unit-test-connections")
    monkeypatch.setenv("NOTIFICATION_API_ID", "abc123")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    import notifier as module

    return module


def test_given_a_stream_batch_then_the_notifier_pushes_one_message_per_visible_change_in_order(
    notifier: Any, lambda_context: Any
) -> None:
    store, pusher = MemoryStore(["c1"]), ScriptedPusher()
    notifier.store.override(store)
    notifier.pusher.override(pusher)
    try:
        updated = {**LIVE, "Quantity": Decimal("3"), "TotalPrice": Decimal("31.5")}
        event = _stream_event(
            ("INSERT", None, LIVE),
            ("MODIFY", LIVE, updated),
            ("MODIFY", updated, TOMBSTONE),
            ("REMOVE", TOMBSTONE, None),  # the tombstone's TTL expiry: nothing to tell
        )
        notifier.lambda_handler(event, lambda_context)
    finally:
        notifier.store.override(None)
        notifier.pusher.override(None)
    messages = [json.loads(data, parse_float=Decimal) for data in pusher.delivered["c1"]]
    assert [m["type"] for m in messages] == ["purchase.created", "purchase.updated", "purchase.deleted"]
    assert messages[1]["purchase"]["Quantity"] == 3 and messages[1]["purchase"]["TotalPrice"] == Decimal(
        "31.5"
    )
    assert "Version" not in messages[0]["purchase"]
