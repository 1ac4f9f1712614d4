"""The purchase rules: what a client may send, and how it is normalized."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from purchases.model import plain_decimal
from purchases.rules import InvalidPurchase, parse_purchase
from purchases.schema import PURCHASE_SCHEMA, SCHEMA_PATH
from purchases.validation import MAX_ERRORS, FieldError


def parse_json(text: str) -> object:
    """How the API decodes bodies: fractions as Decimal, never float."""
    return json.loads(text, parse_float=Decimal)


def errors_of(document: object) -> list[FieldError]:
    with pytest.raises(InvalidPurchase) as raised:
        parse_purchase(document)
    return raised.value.errors


def fields_of(document: object) -> set[str]:
    return {error["field"] for error in errors_of(document)}


def test_schema_is_exposed_as_the_file_the_template_includes() -> None:
    # Given the schema file the API's request model is built from
    on_disk = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    # Then the module exposes exactly that document
    assert on_disk == PURCHASE_SCHEMA
    assert SCHEMA_PATH.name == "purchase.schema.json"
    assert SCHEMA_PATH.parent.name == "purchases"


def test_sample_purchase_with_numeric_strings_is_normalized_to_numbers(
    purchase_document: dict[str, Any],
) -> None:
    # Given a sample body whose numbers are strings, as in the original system
    purchase_document.update({"PricePerUnit": "10.50", "Quantity": "3", "TotalPrice": "31.500"})

    # When it is parsed
    purchase = parse_purchase(purchase_document)

    # Then the numbers are exact numbers in canonical form
    assert purchase.price_per_unit == Decimal("10.5")
    assert str(purchase.price_per_unit) == "10.5"
    assert purchase.quantity == 3
    assert isinstance(purchase.quantity, int)
    assert purchase.total_price == Decimal("31.5")
    assert purchase.attributes()["ProductName"] == "Belt"


def test_json_numbers_are_accepted_and_kept_exact(purchase_document: dict[str, Any]) -> None:
    # Given numbers sent as JSON numbers, one of them not representable as a binary float
    purchase_document.update({"PricePerUnit": 0.1, "Quantity": 3, "TotalPrice": 0.3})
    document = parse_json(json.dumps(purchase_document))

    # When it is parsed
    purchase = parse_purchase(document)

    # Then 0.1 x 3 is exactly 0.3 (no float rounding), and the wire form has no float either
    assert purchase.total_price == Decimal("0.3")
    assert purchase.to_wire()["TotalPrice"] == "0.3"
    assert purchase.to_wire()["Quantity"] == "3"


def test_total_price_is_derived_when_absent(purchase_document: dict[str, Any]) -> None:
    # Given a body without TotalPrice
    del purchase_document["TotalPrice"]
    purchase_document.update({"PricePerUnit": "1032", "Quantity": "3"})

    # When it is parsed
    purchase = parse_purchase(purchase_document)

    # Then TotalPrice is PricePerUnit x Quantity
    assert purchase.total_price == Decimal("3096")


def test_total_price_equal_in_another_spelling_is_accepted(purchase_document: dict[str, Any]) -> None:
    # Given a TotalPrice equal to the product but written differently
    purchase_document.update({"PricePerUnit": "10.1", "Quantity": 3, "TotalPrice": "30.30"})

    # When it is parsed, then it is accepted and canonical
    assert plain_decimal(parse_purchase(purchase_document).total_price) == "30.3"


def test_optional_description_may_be_left_out(purchase_document: dict[str, Any]) -> None:
    # Given a body without the optional ProductDescription
    del purchase_document["ProductDescription"]

    # When it is parsed, then the purchase has none, and does not invent one
    purchase = parse_purchase(purchase_document)
    assert purchase.product_description is None
    assert "ProductDescription" not in purchase.attributes()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"Colour": "red"}, "Colour", id="unknown field"),
        pytest.param(
            {"ProductPurchaseId": "6f1c5e0a-3b7d-4d2e-9a44-8c1f0b7e2d93"}, "ProductPurchaseId", id="client id"
        ),
        pytest.param({"ProductName": ""}, "ProductName", id="empty string"),
        pytest.param({"ProductName": "   "}, "ProductName", id="blank string"),
        pytest.param({"CustomerName": "\t\n"}, "CustomerName", id="whitespace-only string"),
        pytest.param({"ProductId": "has space"}, "ProductId", id="id with whitespace"),
        pytest.param({"ProductDescription": ""}, "ProductDescription", id="empty optional string"),
        pytest.param({"TotalPrice": "11"}, "TotalPrice", id="wrong total"),
        pytest.param({"TotalPrice": 9.99}, "TotalPrice", id="wrong total as number"),
        pytest.param({"Quantity": "1.5"}, "Quantity", id="fractional quantity string"),
        pytest.param({"Quantity": 1.5}, "Quantity", id="fractional quantity number"),
        pytest.param({"Quantity": 0}, "Quantity", id="zero quantity number"),
        pytest.param({"Quantity": "0"}, "Quantity", id="zero quantity string"),
        pytest.param({"Quantity": -2}, "Quantity", id="negative quantity"),
        pytest.param({"Quantity": 1_000_001}, "Quantity", id="quantity above maximum"),
        pytest.param({"PricePerUnit": 0}, "PricePerUnit", id="zero price number"),
        pytest.param({"PricePerUnit": "0"}, "PricePerUnit", id="zero price string"),
        pytest.param({"PricePerUnit": "0.000000"}, "PricePerUnit", id="zero price with decimals"),
        pytest.param({"PricePerUnit": -5}, "PricePerUnit", id="negative price number"),
        pytest.param({"PricePerUnit": "-5"}, "PricePerUnit", id="negative price string"),
        pytest.param({"PricePerUnit": "1e3"}, "PricePerUnit", id="exponent in numeric string"),
        pytest.param({"PricePerUnit": "10 "}, "PricePerUnit", id="numeric string with space"),
        pytest.param({"PricePerUnit": "ten"}, "PricePerUnit", id="non-numeric string"),
        pytest.param({"PricePerUnit": 0.0000001}, "PricePerUnit", id="too many decimals as number"),
        pytest.param({"PricePerUnit": 2_000_000_000}, "PricePerUnit", id="price above maximum"),
        pytest.param({"PricePerUnit": "9999999999"}, "PricePerUnit", id="price string above maximum"),
        pytest.param({"PricePerUnit": True}, "PricePerUnit", id="boolean price"),
        pytest.param({"Quantity": True}, "Quantity", id="boolean quantity"),
        pytest.param({"TotalPrice": False}, "TotalPrice", id="boolean total"),
        pytest.param({"PricePerUnit": None}, "PricePerUnit", id="null price"),
        pytest.param({"TimeOfPurchase": "2021-02-30T10:00:00Z"}, "TimeOfPurchase", id="impossible date"),
        pytest.param({"TimeOfPurchase": "2021-01-31T25:00:00Z"}, "TimeOfPurchase", id="impossible hour"),
        pytest.param({"TimeOfPurchase": "2021-01-31T16:23:42"}, "TimeOfPurchase", id="no time zone"),
        pytest.param({"TimeOfPurchase": "31/01/2021"}, "TimeOfPurchase", id="not ISO 8601"),
        pytest.param(
            {"TimeOfPurchase": "2021-01-31T16:23:42+99:00"}, "TimeOfPurchase", id="impossible offset"
        ),
        pytest.param({"ProductName": "x" * 257}, "ProductName", id="too long"),
        pytest.param({"Category": 7}, "Category", id="number where text belongs"),
    ],
)
def test_invalid_field_is_rejected_and_named(
    purchase_document: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    # Given a valid body with one thing wrong (numbers decoded as the API decodes them)
    purchase_document.update(change)
    document = parse_json(json.dumps(purchase_document, default=str))

    # When it is parsed, then it is rejected and the error names the field
    assert field in fields_of(document)


@pytest.mark.parametrize("field", ["ProductId", "ProductName", "Category", "PricePerUnit", "Quantity",
                                   "CustomerId", "CustomerName", "TimeOfPurchase"])  # fmt: skip
def test_each_required_field_is_required(purchase_document: dict[str, Any], field: str) -> None:
    # Given a body missing one required field
    del purchase_document[field]

    # Then it is rejected as missing
    assert {"field": field, "message": "is required"} in errors_of(purchase_document)


@pytest.mark.parametrize("document", [[], ["a"], "text", 12, None, True], ids=repr)
def test_non_object_json_is_rejected(document: object) -> None:
    # Given a JSON value that is not an object, then it is rejected as a whole
    assert errors_of(document) == [{"field": "body", "message": "must be a JSON object"}]


def test_every_problem_is_reported_at_once(purchase_document: dict[str, Any]) -> None:
    # Given a body with several independent problems
    purchase_document.update({"ProductName": "", "Quantity": 1.5, "Extra": 1})
    del purchase_document["Category"]

    # When it is parsed, then each problem is listed, not just the first
    assert fields_of(parse_json(json.dumps(purchase_document, default=str))) == {
        "ProductName",
        "Quantity",
        "Extra",
        "Category",
    }


def test_rule_errors_are_reported_together(purchase_document: dict[str, Any]) -> None:
    # Given a body that passes the schema but breaks two rules
    purchase_document.update({"PricePerUnit": "0", "TimeOfPurchase": "2021-02-30T10:00:00Z"})

    # Then both are listed
    assert fields_of(purchase_document) == {"PricePerUnit", "TimeOfPurchase"}


def test_error_list_stays_small_for_hostile_bodies(purchase_document: dict[str, Any]) -> None:
    # Given a body with thousands of unknown, very long keys
    purchase_document.update({f"{'k' * 1000}{index}": 1 for index in range(2000)})

    # When it is rejected
    errors = errors_of(purchase_document)

    # Then the answer is bounded and does not echo the keys in full
    assert len(errors) == MAX_ERRORS
    assert all(len(error["field"]) <= 64 for error in errors)


@pytest.mark.parametrize(
    "time_of_purchase",
    ["2021-01-31T16:23:42.389Z", "2021-01-31T16:23Z", "2021-01-31T16:23:42+01:00", "2021-01-31T16:23:42-0530",
     "2021-01-31T16:23:42.123456789Z"],
)  # fmt: skip
def test_iso_8601_timestamps_with_zone_are_accepted(
    purchase_document: dict[str, Any], time_of_purchase: str
) -> None:
    # Given a timestamp in one of the accepted ISO 8601 forms
    purchase_document["TimeOfPurchase"] = time_of_purchase

    # Then it is accepted unchanged
    assert parse_purchase(purchase_document).time_of_purchase == time_of_purchase


def test_high_precision_total_keeps_every_digit(purchase_document: dict[str, Any]) -> None:
    # Given a price with the finest precision and a quantity whose product has 18 significant digits
    purchase_document.update({"PricePerUnit": "123456789.123456", "Quantity": "999"})
    del purchase_document["TotalPrice"]

    # When it is parsed, then the total is exact (a float would keep about 16 digits)
    assert plain_decimal(parse_purchase(purchase_document).total_price) == "123333332334.332544"
