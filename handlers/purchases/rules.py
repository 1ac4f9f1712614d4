"""Turning a client's JSON document into a `Purchase`: the schema plus the rules a schema cannot say.

JSON Schema applies `pattern` only to strings and `minimum`/`maximum` only to numbers, so a numeric
string like "0" or a number like 0.0000001 would slip through half of the checks. Here every numeric
field meets all of its schema constraints whichever way it was written; the limits themselves are
read from the schema, never restated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from purchases.decimals import NumberOutOfRange, multiply, storable
from purchases.model import Purchase, canonical_decimal, plain_decimal
from purchases.schema import PURCHASE_PROPERTIES
from purchases.validation import FieldError, schema_errors


class InvalidPurchase(ValueError):
    """The document is not an acceptable purchase; `errors` says why, field by field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"invalid purchase ({len(errors)} problem(s))")
        self.errors = errors


_NUMERIC_FIELDS: Final = ("PricePerUnit", "Quantity", "TotalPrice")
# The schema's pattern keeps TimeOfPurchase in 2000-2099; these bound the instant it names (a zone offset can
# move "2000-01-01T00:00+01:00" into 1999). The upper bound moves with the clock, so the writer, checking
# later, accepts whatever the sender accepted.
EARLIEST_TIME_OF_PURCHASE: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME_OF_PURCHASE_AHEAD: Final = timedelta(days=1)
_PATTERNS: Final = {name: re.compile(PURCHASE_PROPERTIES[name]["pattern"]) for name in _NUMERIC_FIELDS}


def parse_purchase(document: object, now: datetime | None = None) -> Purchase:
    """Validate `document` (a decoded JSON body) and normalize it; raises `InvalidPurchase`.

    `now` (default: the clock) bounds how far ahead TimeOfPurchase may lie."""
    errors = schema_errors(document)
    if errors:
        raise InvalidPurchase(errors)
    assert isinstance(document, dict)  # the schema requires an object

    numbers: dict[str, Decimal] = {}
    for name in _NUMERIC_FIELDS:
        if name in document:
            number_or_problem = _checked_number(name, document[name])
            if isinstance(number_or_problem, str):
                errors.append(FieldError(field=name, message=number_or_problem))
            else:
                numbers[name] = number_or_problem

    time_problem = _time_of_purchase_problem(document["TimeOfPurchase"], now or datetime.now(UTC))
    if time_problem is not None:
        errors.append(FieldError(field="TimeOfPurchase", message=time_problem))

    total_price: Decimal | None = None
    if "PricePerUnit" in numbers and "Quantity" in numbers:
        # Within the stated maxima the product is exact and within TotalPrice's own limits; checking it
        # like a sent TotalPrice keeps that true should the maxima ever change.
        product = _checked_number("TotalPrice", _product(numbers["PricePerUnit"], numbers["Quantity"]))
        given = numbers.get("TotalPrice")
        if isinstance(product, str):
            errors.append(FieldError(field="TotalPrice", message=f"PricePerUnit x Quantity {product}"))
        elif given is not None and given != product:
            errors.append(
                FieldError(
                    field="TotalPrice",
                    message=f"must equal PricePerUnit x Quantity ({plain_decimal(product)})",
                )
            )
        else:
            total_price = product
    if errors:
        raise InvalidPurchase(errors)
    assert total_price is not None

    description = document.get("ProductDescription")
    return Purchase(
        product_id=document["ProductId"],
        product_name=document["ProductName"],
        product_description=description if isinstance(description, str) else None,
        category=document["Category"],
        price_per_unit=numbers["PricePerUnit"],
        quantity=int(numbers["Quantity"]),
        total_price=total_price,
        customer_id=document["CustomerId"],
        customer_name=document["CustomerName"],
        time_of_purchase=document["TimeOfPurchase"],
    )


def _checked_number(name: str, raw: object) -> Decimal | str:
    """`raw` (a JSON number or numeric string) as a canonical Decimal, or why it is not acceptable."""
    constraints: Mapping[str, Any] = PURCHASE_PROPERTIES[name]
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal | float):
        return "must be a number or a numeric string"
    try:
        value = Decimal(raw) if not isinstance(raw, float) else Decimal(repr(raw))
    except InvalidOperation:
        return "must be a number or a numeric string"
    # Range first: everything below builds digit strings, which a huge exponent would make huge.
    try:
        value = storable(value)
    except NumberOutOfRange as out_of_range:
        return str(out_of_range)
    # Numbers get the precision limits the schema states (as a pattern) for numeric strings.
    if not isinstance(raw, str) and not _PATTERNS[name].search(plain_decimal(value)):
        return f"must be a plain decimal matching {_PATTERNS[name].pattern}"

    minimum = constraints.get("minimum")
    if minimum is not None:
        if constraints.get("exclusiveMinimum") is True and not value > minimum:
            return f"must be greater than {minimum}"
        if not value >= minimum:
            return f"must be at least {minimum}"
    maximum = constraints.get("maximum")
    if maximum is not None:
        if constraints.get("exclusiveMaximum") is True and not value < maximum:
            return f"must be less than {maximum}"
        if not value <= maximum:
            return f"must be at most {maximum}"
    return canonical_decimal(value)


def _product(price: Decimal, quantity: Decimal) -> Decimal:
    try:
        return multiply(price, quantity)
    except NumberOutOfRange:
        # Not a number the rules accept: _checked_number refuses it with its own message.
        return Decimal("Infinity")


def _time_of_purchase_problem(value: object, now: datetime) -> str | None:
    """Why `value` is not an acceptable TimeOfPurchase, or None."""
    if not isinstance(value, str):
        return "must be a valid ISO 8601 date and time"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "must be a valid ISO 8601 date and time"
    if parsed.tzinfo is None:
        return "must be a valid ISO 8601 date and time with a zone"
    if parsed < EARLIEST_TIME_OF_PURCHASE:
        return "must not be before 2000-01-01T00:00:00Z"
    if parsed > now + LATEST_TIME_OF_PURCHASE_AHEAD:
        return "must not be more than one day in the future"
    return None
