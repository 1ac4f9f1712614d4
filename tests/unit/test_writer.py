"""The writer through its Lambda entry point, applying SQS batches to a moto DynamoDB table."""

from __future__ import annotations

import io
import itertools
import json
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

import writer
import writer_with_hooks
from purchases.adapters.dynamodb import TOMBSTONE_LIFETIME_SECONDS, DynamoDbPurchaseStore
from purchases.faults import FaultInjector
from purchases.messages import WriteAction, WriteMessage, encode_message
from purchases.rules import parse_purchase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

SqsEvent = Callable[..., dict[str, Any]]
PURCHASE_ID = "5d9e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"


@pytest.fixture(autouse=True)
def wired_writer(dynamodb_store: DynamoDbPurchaseStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    writer.store.override(dynamodb_store)
    monkeypatch.setattr(writer_with_hooks, "faults", FaultInjector(0.0, 0.0))
    yield
    writer.store.override(None)


@pytest.fixture
def deliver(sqs_event: SqsEvent, lambda_context: LambdaContext) -> Callable[..., dict[str, Any]]:
    """Delivers one batch: each argument is a WriteMessage or a raw body, with generated message ids."""
    numbers = itertools.count(1)

    def call(*messages: WriteMessage | str, handler: Any = writer.lambda_handler) -> dict[str, Any]:
        records = [
            (f"sqs-{next(numbers)}", encode_message(m) if isinstance(m, WriteMessage) else m)
            for m in messages
        ]
        result: dict[str, Any] = dict(handler(sqs_event(*records), lambda_context))
        return result

    return call


def failed_ids(result: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def write(
    action: WriteAction, stamp: int, document: dict[str, Any] | None = None, purchase_id: str = PURCHASE_ID
) -> WriteMessage:
    purchase = parse_purchase(document) if document is not None else None
    return WriteMessage(action, purchase_id, purchase, stamp, f"request-{stamp}")


def item(table: Table, purchase_id: str = PURCHASE_ID) -> dict[str, Any] | None:
    found = table.get_item(Key={"ProductPurchaseId": purchase_id}, ConsistentRead=True).get("Item")
    return dict(found) if found is not None else None


def variant(document: dict[str, Any], product_name: str) -> dict[str, Any]:
    return {**document, "ProductName": product_name}


# --- create / update / delete ---------------------------------------------------------------


def test_create_stores_the_purchase_with_numbers_and_version(
    deliver: Callable[..., dict[str, Any]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given a create message whose purchase had numeric strings
    purchase_document.update({"PricePerUnit": "10.50", "Quantity": "3", "TotalPrice": "31.5"})

    # When it is delivered
    result = deliver(write(WriteAction.CREATE, 100, purchase_document))

    # Then the item holds DynamoDB numbers, the write's stamp, and no tombstone flag
    assert result == {"batchItemFailures": []}
    stored = item(dynamodb_table)
    assert stored is not None
    assert (stored["PricePerUnit"], stored["Quantity"], stored["TotalPrice"]) == (
        Decimal("10.5"),
        Decimal("3"),
        Decimal("31.5"),
    )
    assert stored["Version"] == 100
    assert "Deleted" not in stored and "ExpiresAt" not in stored
    assert stored["ProductPurchaseId"] == PURCHASE_ID


def test_newer_update_replaces_the_purchase(
    deliver: Callable[..., dict[str, Any]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    deliver(write(WriteAction.CREATE, 100, purchase_document))
    deliver(write(WriteAction.UPDATE, 200, variant(purchase_document, "Belt v2")))
    stored = item(dynamodb_table)
    assert stored is not None and (stored["ProductName"], stored["Version"]) == ("Belt v2", 200)


def test_delete_leaves_a_tombstone_that_expires(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    dynamodb_store: DynamoDbPurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    # Given a stored purchase
    deliver(write(WriteAction.CREATE, 100, purchase_document))
    stamp = 1_700_000_000_000_000_000

    # When it is deleted
    deliver(write(WriteAction.DELETE, stamp))

    # Then only a tombstone remains, set to expire 30 days after the delete was accepted,
    # and reads no longer see the purchase
    assert item(dynamodb_table) == {
        "ProductPurchaseId": PURCHASE_ID,
        "Deleted": True,
        "Version": stamp,
        "ExpiresAt": 1_700_000_000 + TOMBSTONE_LIFETIME_SECONDS,
    }
    stored = dynamodb_store.get(PURCHASE_ID)
    assert stored is not None and stored.deleted
    assert dynamodb_store.page(10, None).items == []


# --- order and duplicates -------------------------------------------------------------------


def final_state(table: Table) -> tuple[str | None, bool]:
    stored = item(table)
    assert stored is not None
    return stored.get("ProductName"), bool(stored.get("Deleted"))


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "separate batches"])
def test_any_order_of_create_update_delete_ends_deleted(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    order: tuple[int, ...],
    one_batch: bool,
) -> None:
    # Given a create, an update and a delete accepted in that order
    writes = [
        write(WriteAction.CREATE, 100, variant(purchase_document, "created")),
        write(WriteAction.UPDATE, 200, variant(purchase_document, "updated")),
        write(WriteAction.DELETE, 300),
    ]

    # When the queue delivers them in any order
    arriving = [writes[index] for index in order]
    results = [deliver(*arriving)] if one_batch else [deliver(message) for message in arriving]

    # Then none fails and the purchase ends deleted: the newest write wins, a delete is never undone
    assert all(failed_ids(result) == [] for result in results)
    assert final_state(dynamodb_table) == (None, True)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_any_order_of_create_and_two_updates_ends_in_the_newest_update(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    order: tuple[int, ...],
) -> None:
    # Given a create and two updates accepted in that order
    writes = [
        write(WriteAction.CREATE, 100, variant(purchase_document, "created")),
        write(WriteAction.UPDATE, 200, variant(purchase_document, "first update")),
        write(WriteAction.UPDATE, 300, variant(purchase_document, "second update")),
    ]

    # When they arrive in any order
    for index in order:
        deliver(writes[index])

    # Then the purchase is the newest update's
    assert final_state(dynamodb_table) == ("second update", False)
    stored = item(dynamodb_table)
    assert stored is not None and stored["Version"] == 300


def test_duplicated_deliveries_change_nothing(
    deliver: Callable[..., dict[str, Any]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given each write already applied once
    writes = [
        write(WriteAction.CREATE, 100, variant(purchase_document, "created")),
        write(WriteAction.UPDATE, 200, variant(purchase_document, "updated")),
    ]
    for message in writes:
        deliver(message)
    before = item(dynamodb_table)

    # When every write is delivered again, twice, in and out of order
    results = [deliver(*writes, *reversed(writes)), deliver(writes[1])]

    # Then no record fails and the item is exactly as it was
    assert all(failed_ids(result) == [] for result in results)
    assert item(dynamodb_table) == before


def test_duplicated_delete_keeps_the_first_tombstone(
    deliver: Callable[..., dict[str, Any]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    deliver(write(WriteAction.CREATE, 100, purchase_document))
    deliver(write(WriteAction.DELETE, 300))
    tombstone = item(dynamodb_table)

    result = deliver(write(WriteAction.DELETE, 300), write(WriteAction.DELETE, 400))

    assert failed_ids(result) == []
    assert item(dynamodb_table) == tombstone


# --- poison messages ------------------------------------------------------------------------


def test_poison_messages_fail_alone_in_a_mixed_batch(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
) -> None:
    # Given a batch mixing good writes with an unparseable body and an invalid purchase
    first = write(
        WriteAction.CREATE, 100, purchase_document, purchase_id="11111111-1111-4111-8111-111111111111"
    )
    second = write(
        WriteAction.CREATE, 100, purchase_document, purchase_id="22222222-2222-4222-8222-222222222222"
    )
    invalid = json.loads(encode_message(first))
    invalid["purchase"]["Quantity"] = "0"

    # When it is delivered (records get ids sqs-1 .. sqs-4)
    result = deliver(first, "this is not JSON", json.dumps(invalid), second)

    # Then exactly the two poison records are reported, and both good writes are applied
    assert failed_ids(result) == ["sqs-2", "sqs-3"]
    assert item(dynamodb_table, first.purchase_id) is not None
    assert item(dynamodb_table, second.purchase_id) is not None


def test_batch_of_only_poison_is_reported_not_raised(deliver: Callable[..., dict[str, Any]]) -> None:
    # Given a batch where every record is poison, then each is reported (no function error)
    assert failed_ids(deliver("{}", "[]")) == ["sqs-1", "sqs-2"]


# --- fault injection ------------------------------------------------------------------------


class ScriptedRandom(random.Random):
    def __init__(self, draws: list[float], crash_after: int = 1) -> None:
        super().__init__(0)
        self._draws = iter(draws)
        self._crash_after = crash_after

    def random(self) -> float:
        return next(self._draws)

    def randint(self, a: int, b: int) -> int:
        return self._crash_after


class ProcessExited(BaseException):
    pass


def exit_process(code: int) -> NoReturn:
    raise ProcessExited(code)


def three_creates(document: dict[str, Any]) -> list[WriteMessage]:
    return [write(WriteAction.CREATE, 100, document, purchase_id=f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000")
            for n in (1, 2, 3)]  # fmt: skip


def test_fault_injection_off_fails_nothing(
    deliver: Callable[..., dict[str, Any]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    writes = three_creates(purchase_document)
    assert failed_ids(deliver(*writes, handler=writer_with_hooks.lambda_handler)) == []
    assert all(item(dynamodb_table, w.purchase_id) for w in writes)


def test_fault_injection_on_fails_the_drawn_records_only(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 50% fault rate whose draws fail the middle record of three identical-looking writes
    monkeypatch.setattr(
        writer_with_hooks, "faults", FaultInjector(0.5, 0.0, rng=ScriptedRandom([0.9, 0.2, 0.6]))
    )
    writes = three_creates(purchase_document)

    # When the batch is delivered
    result = deliver(*writes, handler=writer_with_hooks.lambda_handler)

    # Then only that record is reported and left unapplied, for the queue to deliver again
    assert failed_ids(result) == ["sqs-2"]
    assert [item(dynamodb_table, w.purchase_id) is not None for w in writes] == [True, False, True]


def test_certain_fault_fails_every_record(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_with_hooks, "faults", FaultInjector(1.0, 0.0))
    writes = three_creates(purchase_document)
    assert failed_ids(deliver(*writes, handler=writer_with_hooks.lambda_handler)) == [
        "sqs-1",
        "sqs-2",
        "sqs-3",
    ]
    assert not any(item(dynamodb_table, w.purchase_id) for w in writes)


def test_crash_exits_after_part_of_the_batch_is_applied(
    deliver: Callable[..., dict[str, Any]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a crash drawn for this batch, after its 2nd record
    injector = FaultInjector(0.0, 0.5, rng=ScriptedRandom([0.1], crash_after=2), exit_process=exit_process)
    monkeypatch.setattr(writer_with_hooks, "faults", injector)
    writes = three_creates(purchase_document)

    # When the batch is delivered, then the process exits mid-batch
    with pytest.raises(ProcessExited):
        deliver(*writes, handler=writer_with_hooks.lambda_handler)

    # And the first two writes were applied, the third not
    assert [item(dynamodb_table, w.purchase_id) is not None for w in writes] == [True, True, False]


# --- logs -----------------------------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = writer.logger.registered_handler
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    handler.setStream(previous)  # type: ignore[attr-defined]


def test_each_record_logs_with_its_request_correlation_id_and_no_purchase_data(
    deliver: Callable[..., dict[str, Any]], log_output: io.StringIO, purchase_document: dict[str, Any]
) -> None:
    # Given two writes accepted by two different API requests
    purchase_document["CustomerName"] = "Grace Hopper-Unique"
    writes = three_creates(purchase_document)[:2]
    writes = [
        WriteMessage(w.action, w.purchase_id, w.purchase, w.stamp, f"api-{i}") for i, w in enumerate(writes)
    ]

    # When they are applied in one batch
    deliver(*writes)

    # Then each record's log line carries its own API request id, and no purchase content
    logs = log_output.getvalue()
    assert "Grace Hopper-Unique" not in logs
    applied = [json.loads(line) for line in logs.splitlines() if "applied" in line]
    assert [(entry["correlation_id"], entry["purchase_id"]) for entry in applied] == [
        ("api-0", writes[0].purchase_id),
        ("api-1", writes[1].purchase_id),
    ]
