"""Write messages, the ordering rules, ids, JSON output and configuration."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from decimal import Decimal
from typing import Any, NoReturn

import pytest

from purchases import jsonenc
from purchases.config import ConfigurationError, ReaderConfig, SenderConfig, WriterConfig, WriterHooksConfig
from purchases.faults import CRASH_EXIT_CODE, FaultInjector, InjectedFault
from purchases.identifiers import InvalidIdempotencyKey, parse_purchase_id, purchase_id_for_idempotency_key
from purchases.messages import MalformedMessage, WriteAction, WriteMessage, decode_message, encode_message
from purchases.ordering import should_apply
from purchases.ports import StoredPurchase
from purchases.rules import parse_purchase

PURCHASE_ID = "3f2b8c1e-8a4d-4c6e-9f1a-2b3c4d5e6f70"


def message(action: WriteAction, stamp: int, document: dict[str, Any] | None = None) -> WriteMessage:
    purchase = parse_purchase(document) if document is not None else None
    return WriteMessage(
        action=action,
        purchase_id=PURCHASE_ID,
        purchase=purchase,
        stamp=stamp,
        correlation_id="request-1",
        client_id="client-a",
        owner="client-a",
    )


def wire(purchase_document: dict[str, Any], **changes: Any) -> str:
    body: dict[str, Any] = {
        "action": "create",
        "id": PURCHASE_ID,
        "purchase": purchase_document,
        "stamp": 1_700_000_000_000_000_000,
        "correlationId": "request-1",
    }
    body.update(changes)
    return json.dumps(body)


# --- write messages -------------------------------------------------------------------------


@pytest.mark.parametrize("action", [WriteAction.CREATE, WriteAction.UPDATE])
def test_create_and_update_messages_survive_the_queue(
    purchase_document: dict[str, Any], action: WriteAction
) -> None:
    # Given a message carrying a purchase with numeric fields
    purchase_document.update({"PricePerUnit": 10.5, "Quantity": 2, "TotalPrice": "21"})
    original = message(action, 1_700_000_000_123_456_789, purchase_document)

    # When it is encoded and decoded
    body = encode_message(original)
    decoded = decode_message(body)

    # Then it is the same message, and the body carries numbers as exact strings, never floats
    assert decoded == original
    carried = json.loads(body)
    assert carried["purchase"]["PricePerUnit"] == "10.5"
    assert carried["purchase"]["TotalPrice"] == "21"
    assert carried["stamp"] == 1_700_000_000_123_456_789
    assert set(carried) == {"action", "id", "purchase", "stamp", "correlationId", "clientId", "owner"}
    assert carried["clientId"] == carried["owner"] == "client-a"


def test_delete_message_survives_the_queue_without_purchase() -> None:
    # Given a delete message
    original = message(WriteAction.DELETE, 5)

    # When it is encoded and decoded, then it is unchanged and carries a null purchase
    body = encode_message(original)
    assert decode_message(body) == original
    assert json.loads(body)["purchase"] is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"action": "upsert"}, id="unknown action"),
        pytest.param({"id": "not-a-uuid"}, id="bad id"),
        pytest.param({"id": 7}, id="numeric id"),
        pytest.param({"stamp": True}, id="boolean stamp"),
        pytest.param({"stamp": -1}, id="negative stamp"),
        pytest.param({"stamp": 1.5}, id="fractional stamp"),
        pytest.param({"stamp": "1"}, id="string stamp"),
        pytest.param({"correlationId": None}, id="null correlation id"),
        pytest.param({"purchase": None}, id="create without purchase"),
        pytest.param({"purchase": {"ProductName": "only"}}, id="invalid purchase"),
        pytest.param({"action": "delete"}, id="delete with purchase"),
        pytest.param({"extra": 1}, id="extra field"),
    ],
)
def test_malformed_message_is_refused(purchase_document: dict[str, Any], changes: dict[str, Any]) -> None:
    # Given a message body with one thing wrong, then decoding refuses it
    with pytest.raises(MalformedMessage):
        decode_message(wire(purchase_document, **changes))


@pytest.mark.parametrize(
    "body", ["", "not json", "[1, 2]", '"text"', "null", '{"action": NaN}', "{" * 100_000]
)
def test_unparseable_message_is_refused(body: str) -> None:
    # Given a body that is not a JSON object, then decoding refuses it without crashing
    with pytest.raises(MalformedMessage):
        decode_message(body)


def test_missing_field_is_refused(purchase_document: dict[str, Any]) -> None:
    # Given a message without its correlation id
    body = json.loads(wire(purchase_document))
    del body["correlationId"]

    # Then decoding refuses it
    with pytest.raises(MalformedMessage):
        decode_message(json.dumps(body))


def test_refusal_never_quotes_the_message(purchase_document: dict[str, Any]) -> None:
    # Given a poison message holding personal data
    purchase_document["CustomerName"] = ""
    purchase_document["CustomerId"] = "secret-customer-42"

    # When it is refused, then the reason names fields but not their values
    with pytest.raises(MalformedMessage) as refused:
        decode_message(wire(purchase_document))
    assert "CustomerName" in str(refused.value)
    assert "secret-customer-42" not in str(refused.value)


def test_message_shape_is_enforced_when_built() -> None:
    # A delete carrying a purchase (or a create without one) cannot even be constructed
    with pytest.raises(ValueError):
        message(WriteAction.CREATE, 1)


# --- ordering rules -------------------------------------------------------------------------


def stored(version: int, deleted: bool = False, owner: str = "client-a") -> StoredPurchase:
    return StoredPurchase(
        purchase_id=PURCHASE_ID, attributes={}, version=version, deleted=deleted, owner=owner
    )


@pytest.mark.parametrize(
    ("existing", "action", "stamp", "applies"),
    [
        (None, WriteAction.CREATE, 5, True),
        (stored(5), WriteAction.CREATE, 5, False),
        (stored(9), WriteAction.CREATE, 5, False),
        (stored(1, deleted=True), WriteAction.CREATE, 5, False),
        (None, WriteAction.UPDATE, 5, True),
        (stored(4), WriteAction.UPDATE, 5, True),
        (stored(5), WriteAction.UPDATE, 5, False),
        (stored(6), WriteAction.UPDATE, 5, False),
        (stored(1, deleted=True), WriteAction.UPDATE, 5, False),
        (None, WriteAction.DELETE, 5, True),
        (stored(9), WriteAction.DELETE, 5, True),
        (stored(1, deleted=True), WriteAction.DELETE, 5, False),
        # Someone else's purchase: neither an update nor a delete applies, whatever the stamps
        (stored(4, owner="client-b"), WriteAction.UPDATE, 5, False),
        (stored(9, owner="client-b"), WriteAction.DELETE, 5, False),
    ],
)
def test_ordering_rules(
    purchase_document: dict[str, Any],
    existing: StoredPurchase | None,
    action: WriteAction,
    stamp: int,
    applies: bool,
) -> None:
    # Given a stored record (or none) and an arriving write, then the rules decide as documented
    arriving = message(action, stamp, None if action is WriteAction.DELETE else purchase_document)
    assert should_apply(existing, arriving) is applies


# --- ids ------------------------------------------------------------------------------------


def test_purchase_ids_are_canonical_uuids() -> None:
    # Given ids in various spellings, then only UUIDs are ids, in lower case
    assert parse_purchase_id(PURCHASE_ID) == PURCHASE_ID
    assert parse_purchase_id(PURCHASE_ID.upper()) == PURCHASE_ID
    assert parse_purchase_id("not-a-uuid") is None
    assert parse_purchase_id(PURCHASE_ID.replace("-", "")) is None
    assert parse_purchase_id("{" + PURCHASE_ID[1:-1] + "}") is None
    assert parse_purchase_id("") is None


def test_idempotency_key_always_gives_the_same_id_for_its_client() -> None:
    # Given one key used twice, another key, and the first key from another client
    first = purchase_id_for_idempotency_key("order-2021-0001", "client-a")
    again = purchase_id_for_idempotency_key("order-2021-0001", "client-a")
    other = purchase_id_for_idempotency_key("order-2021-0002", "client-a")
    elsewhere = purchase_id_for_idempotency_key("order-2021-0001", "client-b")

    # Then the same key from the same client maps to the same UUID; anything else to a different one
    assert first == again
    assert len({first, other, elsewhere}) == 3
    assert uuid.UUID(first).version == 5


@pytest.mark.parametrize("key", ["", "x" * 129, "tab\there", "bell\x07", "new\nline"])
def test_bad_idempotency_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        purchase_id_for_idempotency_key(key, "client-a")


def test_longest_idempotency_key_is_accepted() -> None:
    assert uuid.UUID(purchase_id_for_idempotency_key("k" * 128, "client-a"))


# --- JSON output ----------------------------------------------------------------------------


def test_decimals_are_written_as_exact_json_numbers() -> None:
    # Given values as DynamoDB returns them
    document = {
        "n": Decimal("3"),
        "p": Decimal("10.50"),
        "big": Decimal("123333332334.332544"),
        "s": 'é"',
        "l": [1],
    }

    # When written as JSON
    text = jsonenc.dumps(document)

    # Then integral numbers have no fraction, others keep every digit, and the result parses back
    assert text == '{"n":3,"p":10.5,"big":123333332334.332544,"s":"\\u00e9\\"","l":[1]}'
    assert json.loads(text, parse_float=Decimal)["big"] == Decimal("123333332334.332544")


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), float("nan"), object()], ids=repr)
def test_values_json_cannot_hold_are_refused(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        jsonenc.dumps({"v": value})


# --- configuration --------------------------------------------------------------------------


def test_sender_config_names_the_missing_variable() -> None:
    # Given an environment without QUEUE_URL, then the error names it
    with pytest.raises(ConfigurationError, match="QUEUE_URL"):
        SenderConfig.from_environ({"TABLE_NAME": "t"})


def test_each_function_reads_only_what_it_needs() -> None:
    # Given only TABLE_NAME, the reader is configured; the writer also needs its signing key, its test hooks STAGE
    assert ReaderConfig.from_environ({"TABLE_NAME": "t"}) == ReaderConfig(table_name="t")
    with pytest.raises(ConfigurationError, match="WRITE_SIGNING_KEY_ID"):
        WriterConfig.from_environ({"TABLE_NAME": "t"})
    assert WriterConfig.from_environ({"TABLE_NAME": "t", "WRITE_SIGNING_KEY_ID": "k"}) == WriterConfig(
        table_name="t", signing_key_id="k"
    )
    with pytest.raises(ConfigurationError, match="WRITE_SIGNING_KEY_ID"):
        SenderConfig.from_environ({"TABLE_NAME": "t", "QUEUE_URL": "q", "IDEMPOTENCY_TABLE_NAME": "i"})
    with pytest.raises(ConfigurationError, match="STAGE"):
        WriterHooksConfig.from_environ({"TABLE_NAME": "t"})


def test_writer_faults_are_off_by_default() -> None:
    config = WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "dev"})
    assert (config.fault_rate, config.crash_rate) == (0.0, 0.0)


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "lots", "nan"])
def test_writer_fault_rates_must_be_probabilities(rate: str) -> None:
    with pytest.raises(ConfigurationError, match="WRITER_FAULT_RATE"):
        WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "dev", "WRITER_FAULT_RATE": rate})


def test_writer_faults_are_refused_in_prod() -> None:
    # Given fault injection configured for the prod stage, then the writer refuses to start
    with pytest.raises(ConfigurationError, match="prod"):
        WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "prod", "WRITER_CRASH_RATE": "0.1"})
    assert WriterHooksConfig.from_environ({"TABLE_NAME": "t", "STAGE": "prod"}).stage == "prod"


# --- fault injection ------------------------------------------------------------------------


class ScriptedRandom(random.Random):
    """Draws fixed in advance, so a test decides exactly which record fails."""

    def __init__(self, draws: list[float], crash_after: int = 1) -> None:
        super().__init__(0)
        self._draws = iter(draws)
        self._crash_after = crash_after

    def random(self) -> float:
        return next(self._draws)

    def randint(self, a: int, b: int) -> int:
        assert a <= self._crash_after <= b
        return self._crash_after


class ProcessExited(BaseException):
    pass


def exit_process(code: int) -> NoReturn:
    raise ProcessExited(code)


def test_disabled_injector_never_fails_and_draws_nothing() -> None:
    # Given rates of 0 and a random source that must not be consulted
    injector = FaultInjector(0.0, 0.0, rng=ScriptedRandom([]), exit_process=exit_process)

    # When a batch runs, then nothing fails and the process never exits
    injector.begin_batch(10)
    for _ in range(10):
        injector.before_record()
        injector.after_record()


def test_record_faults_follow_the_random_draw_only() -> None:
    # Given a 50% fault rate and draws above, below, above it
    injector = FaultInjector(0.5, 0.0, rng=ScriptedRandom([0.9, 0.1, 0.7]), exit_process=exit_process)

    # Then only the record drawing below the rate fails
    outcomes = []
    for _ in range(3):
        try:
            injector.before_record()
            outcomes.append("ok")
        except InjectedFault:
            outcomes.append("failed")
    assert outcomes == ["ok", "failed", "ok"]


def test_crash_exits_after_the_chosen_number_of_records() -> None:
    # Given a batch of 3 that is drawn to crash after its 2nd record
    injector = FaultInjector(0.0, 0.5, rng=ScriptedRandom([0.1], crash_after=2), exit_process=exit_process)
    injector.begin_batch(3)

    # When records are handled, then the process exits right after the 2nd
    injector.after_record()
    with pytest.raises(ProcessExited) as exited:
        injector.after_record()
    assert exited.value.args == (CRASH_EXIT_CODE,)


def test_real_random_fault_rate_is_roughly_honoured() -> None:
    # Given a seeded generator and a 30% fault rate over many records
    injector = FaultInjector(0.3, 0.0, rng=random.Random(1234), exit_process=exit_process)
    failures = 0
    for _ in itertools.repeat(None, 2000):
        try:
            injector.before_record()
        except InjectedFault:
            failures += 1

    # Then about 30% fail
    assert 500 < failures < 700


# --- clientId -------------------------------------------------------------------------------


def test_a_message_queued_before_client_ids_existed_is_still_applied(
    purchase_document: dict[str, Any],
) -> None:
    # Given a message without clientId (queued by the previous version of the sender)
    decoded = decode_message(wire(purchase_document))
    # Then it decodes, with no client
    assert decoded.client_id is None


@pytest.mark.parametrize("client_id", ["", 7, "c" * 129, ["a"]])
def test_a_bad_client_id_is_malformed(purchase_document: dict[str, Any], client_id: Any) -> None:
    with pytest.raises(MalformedMessage, match="clientId"):
        decode_message(wire(purchase_document, clientId=client_id))
