"""The service's bounds, unit by unit: a list page is one Query whatever the tombstones, the existence check reads
the key and the tombstone flag only, the writer starts a record only while it can finish it, a slow record
fails alone, and every AWS client has timeouts and bounded retries."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

import writer
import writer_with_hooks
from purchases.adapters.clients import API_CALLS, WRITER_CALLS, CallBudget
from purchases.adapters.dynamodb import CLIENT_ID, DELETED, DIGEST, LISTED, DynamoDbPurchaseStore
from purchases.config import ConfigurationError, WriterHooksConfig
from purchases.faults import FaultInjector, InjectedFault
from purchases.messages import WriteAction, WriteMessage, encode_message
from purchases.ports import RecordHead, RecordState
from purchases.rules import parse_purchase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

SqsEvent = Callable[..., dict[str, Any]]


def purchase_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def create(number: int, document: dict[str, Any], correlation_id: str = "request") -> WriteMessage:
    return WriteMessage(WriteAction.CREATE, purchase_id(number), parse_purchase(document), 1, correlation_id)


# --- bounded listing ---------------------------------------------------------------------------


def test_each_list_page_is_one_query_whatever_the_tombstones(
    dynamodb_store: DynamoDbPurchaseStore,
    dynamodb_table: Table,
    calls: list[tuple[str, dict[str, Any]]],
    purchase_document: dict[str, Any],
) -> None:
    # Given 600 tombstones around a handful of live purchases (ids interleaved)
    live = {purchase_id(number) for number in (3, 150, 151, 400, 599)}
    with dynamodb_table.batch_writer() as batch:
        for number in range(600):
            if purchase_id(number) not in live:
                batch.put_item(Item={"ProductPurchaseId": purchase_id(number), DELETED: True, "Version": 2})
    for pid in sorted(live):
        dynamodb_store.apply_write(create(int(pid[-12:]), purchase_document))
    calls.clear()

    # When the list is read with pages of 2 until no cursor is left
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = dynamodb_store.page(2, cursor)
        pages += 1
        assert len(page.items) <= 2
        seen += [str(item["ProductPurchaseId"]) for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    # Then each page cost exactly one Query of the live index, and every live purchase came once
    assert [operation for operation, _ in calls] == ["Query"] * pages
    assert all(params["IndexName"] == "LivePurchases" and params["Limit"] == 2 for _, params in calls)
    assert sorted(seen) == sorted(live)
    assert pages <= len(live) // 2 + 2


def test_only_live_purchases_carry_the_index_key(
    dynamodb_store: DynamoDbPurchaseStore, dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    dynamodb_store.apply_write(create(1, purchase_document))
    live = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(1)})["Item"]
    dynamodb_store.apply_write(WriteMessage(WriteAction.DELETE, purchase_id(1), None, 5, "r"))
    tombstone = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(1)})["Item"]
    assert live[LISTED] == "live"
    assert LISTED not in tombstone


# --- existence check ---------------------------------------------------------------------------


def test_the_existence_check_reads_the_key_tombstone_flag_owner_and_digest_only(
    dynamodb_store: DynamoDbPurchaseStore,
    calls: list[tuple[str, dict[str, Any]]],
    purchase_document: dict[str, Any],
) -> None:
    # Given a live, a deleted and an absent purchase of client-a
    live = WriteMessage(
        WriteAction.CREATE, purchase_id(1), parse_purchase(purchase_document), 1, "r", "client-a", "client-a"
    )
    dynamodb_store.apply_write(live)
    dynamodb_store.apply_write(
        WriteMessage(
            WriteAction.CREATE,
            purchase_id(2),
            parse_purchase(purchase_document),
            1,
            "r",
            "client-a",
            "client-a",
        )
    )
    dynamodb_store.apply_write(
        WriteMessage(WriteAction.DELETE, purchase_id(2), None, 5, "r", "client-a", "client-a")
    )
    calls.clear()

    # When their heads are read
    heads = [dynamodb_store.head(purchase_id(number)) for number in (1, 2, 3)]

    # Then each is told apart with its owner (and the live one's digest), and every read projected the key, the
    # flag, the owner and the digest, nothing of the purchase
    assert live.purchase is not None
    assert heads == [
        RecordHead(RecordState.LIVE, "client-a", live.purchase.digest()),
        RecordHead(RecordState.DELETED, "client-a"),
        RecordHead(RecordState.ABSENT),
    ]
    for operation, params in calls:
        assert operation == "GetItem"
        names = params["ExpressionAttributeNames"]
        projected = {
            names.get(part.strip(), part.strip()) for part in params["ProjectionExpression"].split(",")
        }
        assert projected == {"ProductPurchaseId", DELETED, CLIENT_ID, DIGEST}


# --- the writer's time budget ------------------------------------------------------------------


@pytest.fixture
def wired_writer(dynamodb_store: DynamoDbPurchaseStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    writer.store.override(dynamodb_store)
    monkeypatch.setattr(writer_with_hooks, "faults", FaultInjector(0.0, 0.0))
    yield
    writer.store.override(None)


def deliver(
    sqs_event: SqsEvent, context: LambdaContext, *messages: WriteMessage, handler: Any = writer.lambda_handler
) -> list[str]:
    records = [(f"sqs-{number}", encode_message(message)) for number, message in enumerate(messages, 1)]
    result = handler(sqs_event(*records), context)
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def stored(table: Table, number: int) -> bool:
    return "Item" in table.get_item(Key={"ProductPurchaseId": purchase_id(number)})


@pytest.mark.usefixtures("wired_writer")
def test_the_writer_leaves_the_records_it_has_no_time_for_untouched_and_reported(
    sqs_event: SqsEvent,
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an invocation whose remaining time drops 100 ms each time it is asked, below the reserve at the fifth
    remaining = itertools.count(writer.RECORD_RESERVE_MS + 300, -100)
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: next(remaining))
    messages = [create(number, purchase_document) for number in range(1, 7)]

    # When a batch of six is delivered
    failed = deliver(sqs_event, lambda_context, *messages)

    # Then the first records are applied, and the rest are reported failed without being tried
    assert failed == ["sqs-5", "sqs-6"]
    assert [stored(dynamodb_table, number) for number in range(1, 7)] == [True] * 4 + [False] * 2


@pytest.mark.usefixtures("wired_writer")
def test_with_no_time_left_the_writer_starts_nothing(
    sqs_event: SqsEvent, dynamodb_table: Table, purchase_document: dict[str, Any], lambda_context: Any
) -> None:
    lambda_context.remaining_ms = writer.RECORD_RESERVE_MS - 1
    failed = deliver(sqs_event, lambda_context, create(1, purchase_document), create(2, purchase_document))
    assert failed == ["sqs-1", "sqs-2"]
    assert not stored(dynamodb_table, 1) and not stored(dynamodb_table, 2)


@pytest.mark.usefixtures("wired_writer")
def test_a_slow_record_fails_alone_on_its_first_delivery_and_is_applied_on_the_next(
    sqs_event: SqsEvent,
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the test-only slow marker, and a batch with the slow record in the middle
    stalls: list[float] = []
    injector = FaultInjector(0.0, 0.0, slow_marker="slow-one", stall_seconds=1.0, sleep=stalls.append)
    monkeypatch.setattr(writer_with_hooks, "faults", injector)
    messages = [
        create(1, purchase_document),
        create(2, purchase_document, "slow-one"),
        create(3, purchase_document),
    ]

    # When it is delivered, then only the slow record failed, after stalling for the writer's call budget
    assert deliver(sqs_event, lambda_context, *messages, handler=writer_with_hooks.lambda_handler) == [
        "sqs-2"
    ]
    assert stalls == [1.0]
    assert [stored(dynamodb_table, number) for number in (1, 2, 3)] == [True, False, True]

    # And on its redelivery it is applied
    event = sqs_event(("sqs-2", encode_message(messages[1])))
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert writer_with_hooks.lambda_handler(event, lambda_context)["batchItemFailures"] == []
    assert stored(dynamodb_table, 2)


def test_the_slow_marker_is_off_by_default_and_refused_in_prod() -> None:
    assert WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "dev"}).slow_marker == ""
    with pytest.raises(ConfigurationError, match="WRITER_SLOW_MARKER"):
        WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "prod", "WRITER_SLOW_MARKER": "x"})


def test_without_a_marker_nothing_is_slow() -> None:
    injector = FaultInjector(0.0, 0.0, stall_seconds=5.0, sleep=lambda _: pytest.fail("stalled"))
    injector.stall_if_slow("", 1)
    injector.stall_if_slow("anything", 1)
    with pytest.raises(InjectedFault):
        FaultInjector(0.0, 0.0, slow_marker="m", sleep=lambda _: None).stall_if_slow("m", 1)


# --- client budgets ----------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [API_CALLS, WRITER_CALLS], ids=["api", "writer"])
def test_every_client_budget_has_timeouts_and_bounded_retries(budget: CallBudget) -> None:
    config: Any = budget.config()
    assert config.connect_timeout == budget.connect_timeout <= 1
    assert config.read_timeout == budget.read_timeout <= 1
    assert config.retries == {"mode": "standard", "total_max_attempts": budget.max_attempts}
    assert 1 <= budget.max_attempts <= 2


def test_the_worst_case_counts_every_attempt_and_the_longest_backoff() -> None:
    assert CallBudget(0.5, 1.0, 1).worst_case_seconds == 1.5
    assert CallBudget(0.5, 1.0, 2).worst_case_seconds == 4.0  # 2 x 1.5 + up to 1 s before the retry
    assert CallBudget(0.5, 1.0, 3).worst_case_seconds == 7.5  # + up to 2 s before the third


def test_the_handlers_build_their_clients_with_their_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from purchases.adapters.dynamodb import lazy_table
    from purchases.adapters.sqs import lazy_sqs_client

    built: list[Any] = []

    def resource(service: str, config: Any) -> _FakeResource:
        built.append((service, config))
        return _FakeResource()

    def client(service: str, config: Any) -> None:
        built.append((service, config))

    monkeypatch.setattr(boto3, "resource", resource)
    monkeypatch.setattr(boto3, "client", client)
    lazy_table("t", WRITER_CALLS)()
    lazy_sqs_client(API_CALLS)()
    assert [(service, config.read_timeout) for service, config in built] == [("dynamodb", 0.75), ("sqs", 1.0)]


class _FakeResource:
    def Table(self, name: str) -> str:
        return name


def test_local_stages_get_the_slow_record_hook_except_prod() -> None:
    from devkit.delivery.deploy import local_stage_parameters
    from devkit.engines.ministack import MiniStack

    engine = MiniStack(port=4999)
    assert local_stage_parameters(engine, "dev")["WriterSlowMarker"]
    assert "WriterSlowMarker" not in local_stage_parameters(engine, "prod")
    assert (
        local_stage_parameters(engine, "prod")["WriterTimeout"]
        == local_stage_parameters(engine, "dev")["WriterTimeout"]
    )
