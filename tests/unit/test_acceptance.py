"""One acceptance rule: whatever the sender answers 202 to, the writer applies and DynamoDB stores.

Bodies built to slip past validation (and get a 202 or a 500) are refused with field errors and queue nothing, and a
property-based test sends bodies near every limit through the sender's Lambda entry point: an accepted
body's queued message decodes to itself and becomes an item boto3's TypeSerializer accepts within
DynamoDB's limits; a refused body gets 400 with field errors, never a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeSerializer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sender
from purchases.adapters.dynamodb import item_for
from purchases.commands import PurchaseCommands
from purchases.decimals import MAX_ADJUSTED_EXPONENT, MAX_SIGNIFICANT_DIGITS, MIN_ADJUSTED_EXPONENT
from purchases.messages import (
    MalformedMessage,
    UndeliverableMessage,
    WriteAction,
    WriteMessage,
    decode_message,
    encode_checked,
    encode_message,
)
from purchases.model import Purchase
from purchases.rules import InvalidPurchase, parse_purchase
from purchases.schema import PURCHASE_PROPERTIES
from seed.send import load_samples

ApiEvent = Callable[..., dict[str, Any]]
SAMPLE: dict[str, Any] = load_samples()[0]
ITEM_SIZE_LIMIT = 400 * 1024
_serializer = TypeSerializer()


@pytest.fixture(autouse=True)
def wired_sender(commands: PurchaseCommands) -> Iterator[None]:
    sender.commands.override(commands)
    yield
    sender.commands.override(None)


@pytest.fixture
def post(api_event: ApiEvent, lambda_context: LambdaContext) -> Callable[[str], dict[str, Any]]:
    def call(body: str) -> dict[str, Any]:
        response: dict[str, Any] = sender.lambda_handler(
            api_event("POST", "/product-purchase", body=body), lambda_context
        )
        return response

    return call


def as_json(document: dict[str, Any]) -> str:
    """JSON text for `document`, Decimals written as JSON numbers exactly as Python spells them."""
    parts = []
    for name, value in document.items():
        text = str(value) if isinstance(value, Decimal) else json.dumps(value)
        parts.append(f"{json.dumps(name)}:{text}")
    return "{" + ",".join(parts) + "}"


def with_fields(**changes: Any) -> dict[str, Any]:
    document = {**SAMPLE, **changes}
    return {name: value for name, value in document.items() if value is not None}


def assert_storable(message: WriteMessage) -> None:
    """The item the writer would put for `message` is one DynamoDB accepts."""
    item = item_for(message)
    serialized = {name: _serializer.serialize(value) for name, value in item.items()}
    size = 0
    for name, attribute in serialized.items():
        ((kind, value),) = attribute.items()
        size += len(name.encode("utf-8"))
        if kind == "S":
            assert isinstance(value, str)
            assert value, f"{name}: DynamoDB refuses empty strings in keys and this service never stores one"
            size += len(value.encode("utf-8"))  # strict UTF-8: a lone surrogate raises here
        elif kind == "N":
            assert isinstance(value, str)
            number = Decimal(value)
            assert number.is_finite()
            digits = len(number.normalize().as_tuple().digits)
            assert digits <= MAX_SIGNIFICANT_DIGITS, value
            assert number.is_zero() or MIN_ADJUSTED_EXPONENT <= number.adjusted() <= MAX_ADJUSTED_EXPONENT
            size += len(value)
    assert size < ITEM_SIZE_LIMIT


# --- bodies built to slip past validation ----------------------------------------------------

ATTACKS = [
    pytest.param(
        with_fields(PricePerUnit=Decimal("1e-1000030"), TotalPrice=None), "PricePerUnit", id="underflow"
    ),
    pytest.param(with_fields(TotalPrice=Decimal("1e999999999")), "TotalPrice", id="overflow"),
    pytest.param(
        with_fields(PricePerUnit="0.0000001", TotalPrice=None), "PricePerUnit", id="below precision"
    ),
    pytest.param(with_fields(ProductName="\ud800"), "ProductName", id="lone surrogate"),
    pytest.param(with_fields(CustomerName="Ada\udfff"), "CustomerName", id="lone low surrogate"),
    pytest.param(with_fields(ProductName="Belt\x00"), "ProductName", id="NUL"),
    pytest.param(with_fields(ProductDescription="line\nbreak"), "ProductDescription", id="line break"),
    pytest.param(with_fields(CustomerName="Eve\u202egnp.exe"), "CustomerName", id="right-to-left override"),
    pytest.param(with_fields(Category="\u2066isolate"), "Category", id="bidi isolate"),
    pytest.param(with_fields(ProductId="p\x7f"), "ProductId", id="DEL"),
    pytest.param(with_fields(TimeOfPurchase="0001-01-01T00:00:00Z"), "TimeOfPurchase", id="year 0001"),
    pytest.param(
        with_fields(TimeOfPurchase="2000-01-01T00:30:00+01:00"), "TimeOfPurchase", id="1999 by offset"
    ),
    pytest.param(with_fields(TimeOfPurchase="2021-02-30T00:00:00Z"), "TimeOfPurchase", id="February 30"),
    pytest.param(with_fields(TotalPrice="1000000000000001"), "TotalPrice", id="total above maximum"),
]


@pytest.mark.parametrize(("document", "field"), ATTACKS)
def test_what_the_writer_could_not_store_is_refused_with_field_errors(
    post: Callable[[str], dict[str, Any]], enqueued: list[WriteMessage], document: dict[str, Any], field: str
) -> None:
    # Given a body the writer or DynamoDB would refuse (or that once crashed the sender)
    # When it is posted
    response = post(as_json(document))
    # Then it is a 400 naming the field, and nothing is queued
    assert response["statusCode"] == 400, response["body"]
    errors = json.loads(response["body"])["errors"]
    assert field in {error["field"] for error in errors}, errors
    assert enqueued == []


def test_a_time_more_than_a_day_ahead_is_refused_and_one_just_inside_accepted() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    inside = (now + timedelta(days=1)).isoformat()
    outside = (now + timedelta(days=1, seconds=1)).isoformat()
    assert parse_purchase(with_fields(TimeOfPurchase=inside), now=now).time_of_purchase == inside
    with pytest.raises(InvalidPurchase) as refused:
        parse_purchase(with_fields(TimeOfPurchase=outside), now=now)
    assert refused.value.errors[0]["field"] == "TimeOfPurchase"


def test_the_earliest_time_and_the_largest_numbers_are_accepted_and_storable() -> None:
    # Given a purchase at every stated maximum, at the first instant allowed
    document = with_fields(
        PricePerUnit="1000000000", Quantity="1000000", TotalPrice=None, TimeOfPurchase="2000-01-01T00:00:00Z"
    )
    purchase = parse_purchase(document)
    # Then its total is the TotalPrice maximum, and its message is storable
    assert purchase.total_price == PURCHASE_PROPERTIES["TotalPrice"]["maximum"]
    message = WriteMessage(WriteAction.CREATE, "5d9e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", purchase, 1, "r")
    assert decode_message(encode_checked(message)) == message
    assert_storable(message)


def test_a_message_the_decoder_would_change_is_not_queued() -> None:
    # Given a message whose purchase the rules never produced (a price with more digits than allowed)
    purchase = parse_purchase(SAMPLE)
    forged = Purchase(
        **{**{f: getattr(purchase, f) for f in Purchase.__slots__}, "price_per_unit": Decimal("1e-9")}
    )
    message = WriteMessage(WriteAction.CREATE, "5d9e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", forged, 1, "r")
    # Then the checked encoder refuses to produce a body for it, naming the field
    with pytest.raises(UndeliverableMessage) as refused:
        encode_checked(message)
    assert "PricePerUnit" in refused.value.fields


def test_the_sender_answers_400_when_the_decoder_refuses(
    post: Callable[[str], dict[str, Any]], enqueued: list[WriteMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a decoder that refuses one field (a stand-in for any gap between the rules and the writer)
    import purchases.messages as messages

    real_decode = messages.decode_message

    def picky_decode(body: str) -> WriteMessage:
        real_decode(body)
        raise messages.MalformedMessage("refused", ("CustomerName",))

    monkeypatch.setattr(messages, "decode_message", picky_decode)
    # When a valid purchase is posted
    response = post(as_json(SAMPLE))
    # Then the client hears 400 about that field and nothing is queued
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["errors"] == [
        {"field": "CustomerName", "message": "cannot be stored as sent"}
    ]
    assert enqueued == []


# --- near every boundary, accepted means storable ----------------------------------------------


def _number_spellings(value: Decimal) -> st.SearchStrategy[Any]:
    spellings: list[Any] = [
        value,
        str(value),
        format(value, "f") if abs(value.adjusted()) < 40 else str(value),
    ]
    if value == value.to_integral_value() and abs(value.adjusted()) < 40:
        spellings.append(int(value))
    return st.sampled_from(spellings)


def _near(bound: str) -> list[Decimal]:
    centre = Decimal(bound)
    steps = [Decimal(0), Decimal(1), Decimal("0.000001"), Decimal("0.0000001")]
    return [centre + step for step in steps] + [centre - step for step in steps[1:]]


NUMBER_BOUNDARIES = sorted(
    {
        *_near("0"),
        *_near("1"),
        *_near("1000000"),
        *_near("1000000000"),
        *_near("1000000000000000"),
        *(
            Decimal(text)
            for text in (
                "1e-1000030",
                "1e999999999",
                "1e125",
                "1e126",
                "1e-130",
                "1e-131",
                "9.99e125",
                "0e-1000030",
                "10.5000000",
                "1" * 39,
                "1" * 16 + ".5",
            )
        ),
    }
)
numbers = st.one_of(
    st.sampled_from(NUMBER_BOUNDARIES).flatmap(_number_spellings),
    st.integers(0, 7)
    .flatmap(lambda places: st.decimals(min_value=Decimal("-1e3"), max_value=Decimal("1e16"), places=places))
    .flatmap(_number_spellings),
    st.integers(1, 1000).flatmap(lambda n: _number_spellings(Decimal(n))),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e", "", " 1", "0x10", True, None, [1]]),
)

SPECIAL_CHARACTERS = [
    "\x00",
    "\t",
    "\n",
    "\x1f",
    "\x7f",
    "\x85",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\u00e9",
    " ",
    "\u3000",
    "\u200f",
    "\ufeff",
    "a",
]


def _strings_for(field: str) -> st.SearchStrategy[str]:
    longest = int(PURCHASE_PROPERTIES[field]["maxLength"])
    alphabet = st.one_of(st.sampled_from(SPECIAL_CHARACTERS), st.characters(codec="utf-8"))
    return st.one_of(
        st.text(alphabet, max_size=12),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs")), min_size=1, max_size=12),
        st.sampled_from([longest - 1, longest, longest + 1]).flatmap(
            lambda size: st.builds(
                lambda head, char: head + char * (size - len(head)),
                st.text(alphabet, max_size=2),
                st.sampled_from(["a", " ", "\u00e9"]),
            )
        ),
    )


def _times() -> st.SearchStrategy[str]:
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    second = timedelta(seconds=1)
    # The moving bound is approached to within two minutes either way, so the verdict cannot depend on
    # how long the run takes; the fixed one to the second.
    latest = datetime.now(UTC) + timedelta(days=1)
    instants = [
        earliest,
        earliest - second,
        earliest + second,
        latest - timedelta(minutes=2),
        latest + timedelta(minutes=2),
    ]
    near_bounds = st.builds(
        lambda instant, zone: instant.astimezone(zone).isoformat(),
        st.sampled_from(instants),
        st.sampled_from([UTC, timezone_hours(1), timezone_hours(-1), timezone_hours(14)]),
    )
    fixed = st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2099-12-31T23:59:59Z",
            "2021-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2021-01-31T16:23:42",
            "2021-01-31T16:23:42.123456789Z",
            "2021-01-31T24:00:00Z",
            "2021-01-31",
        ]
    )
    return st.one_of(near_bounds, fixed)


def timezone_hours(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **{
        name: _strings_for(name)
        for name in (
            "ProductId",
            "ProductName",
            "ProductDescription",
            "Category",
            "CustomerId",
            "CustomerName",
        )
    },
    "PricePerUnit": numbers,
    "Quantity": numbers,
    "TotalPrice": st.one_of(st.none(), st.none(), numbers),
    "TimeOfPurchase": _times(),
}
changed_bodies = st.sets(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=3).flatmap(
    lambda chosen: st.fixed_dictionaries({name: FIELD_VALUES[name] for name in chosen})
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=changed_bodies)
def test_accepted_means_storable_and_refused_means_400_with_field_errors(
    post: Callable[[str], dict[str, Any]], enqueued: list[WriteMessage], changes: dict[str, Any]
) -> None:
    enqueued.clear()
    # Given a valid purchase with one to three fields set near a limit (None: the field left out)
    document = with_fields(**changes)
    # When it is posted
    response = post(as_json(document))
    status = response["statusCode"]
    # Then it is either accepted or refused with field errors; never a server error
    assert status in {202, 400}, (status, response["body"])
    event(f"status {status}")
    if status == 400:
        errors = json.loads(response["body"])["errors"]
        assert errors and all(error["field"] and error["message"] for error in errors), errors
        assert enqueued == []
        return
    # And an accepted one queued one message, which the writer decodes to itself and DynamoDB can store
    (message,) = enqueued
    assert decode_message(encode_message(message)) == message
    assert_storable(message)


def test_the_openapi_document_states_the_same_limits() -> None:
    # Given the OpenAPI description schemathesis and clients read
    from devkit.checks.openapi import openapi_document

    purchase = openapi_document()["components"]["schemas"]["Purchase"]["properties"]
    # Then it carries the schema's limits: the TotalPrice maximum, the time range and the character rules
    (total_number,) = [branch for branch in purchase["TotalPrice"]["anyOf"] if branch["type"] == "number"]
    assert total_number["maximum"] == PURCHASE_PROPERTIES["TotalPrice"]["maximum"] == 10**15
    assert purchase["TimeOfPurchase"]["pattern"].startswith("^20[0-9]{2}-")
    assert "one day" in purchase["TimeOfPurchase"]["description"]
    for name in ("ProductId", "ProductName", "ProductDescription", "Category", "CustomerId", "CustomerName"):
        assert purchase[name]["pattern"] == PURCHASE_PROPERTIES[name]["pattern"]
        assert (
            "\\u202a-\\u202e" in purchase[name]["pattern"] and "\\ud800-\\udfff" in purchase[name]["pattern"]
        )


@settings(max_examples=200, deadline=None)
@given(changes=changed_bodies)
def test_the_writers_decoder_refuses_cleanly_or_yields_a_storable_write(changes: dict[str, Any]) -> None:
    # Given a queue message carrying a purchase near the limits (anyone with SendMessage can queue anything)
    body = (
        '{"action":"create","id":"5d9e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6","purchase":'
        + as_json(with_fields(**changes))
        + ',"stamp":1,"correlationId":"r"}'
    )
    # When the writer decodes it
    try:
        message = decode_message(body)
    except MalformedMessage as refused:
        # Then it is refused as malformed (one failed record), never with another error
        assert str(refused)
        return
    # Or it becomes a write DynamoDB can store
    assert_storable(message)
