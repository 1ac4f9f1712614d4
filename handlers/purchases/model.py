"""The purchase as the service keeps it once it has passed every rule (see `purchases.rules`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from purchases.decimals import normalized

Number = Decimal | int
AttributeValue = str | Decimal | int


def plain_decimal(value: Decimal) -> str:
    """`value` without exponent or trailing zeros: '1E+2' -> '100', '10.50' -> '10.5'."""
    text = format(normalized(value), "f")
    return "0" if text == "-0" else text


def canonical_decimal(value: Decimal) -> Decimal:
    # DynamoDB keeps numbers, not their spelling; canonical values make "10.50" and 10.5 one
    # price everywhere (messages, table, responses) instead of two spellings of it.
    return Decimal(plain_decimal(value))


@dataclass(frozen=True, slots=True)
class Purchase:
    product_id: str
    product_name: str
    product_description: str | None
    category: str
    price_per_unit: Decimal
    quantity: int
    total_price: Decimal
    customer_id: str
    customer_name: str
    time_of_purchase: str

    def attributes(self) -> dict[str, AttributeValue]:
        """The purchase under its public field names, numbers as numbers (as stored)."""
        attributes: dict[str, AttributeValue] = {
            "ProductId": self.product_id,
            "ProductName": self.product_name,
        }
        if self.product_description is not None:
            attributes["ProductDescription"] = self.product_description
        attributes.update(
            {
                "Category": self.category,
                "PricePerUnit": self.price_per_unit,
                "Quantity": self.quantity,
                "TotalPrice": self.total_price,
                "CustomerId": self.customer_id,
                "CustomerName": self.customer_name,
                "TimeOfPurchase": self.time_of_purchase,
            }
        )
        return attributes

    def to_wire(self) -> dict[str, str]:
        """The purchase as it travels in a write message: numbers as exact decimal strings."""
        return {
            name: plain_decimal(Decimal(value)) if isinstance(value, Decimal | int) else value
            for name, value in self.attributes().items()
        }

    def digest(self) -> str:
        """A fingerprint of the purchase (SHA-256 of its wire form): equal for equal purchases however they were
        spelled, so the sender can tell a replayed create from a different one without reading personal data."""
        canonical = json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()
