"""The purchase JSON Schema: purchase.schema.json, also the API's request model (keep its path).

The file is the single definition of a purchase's shape. This module only loads it, so tooling
(OpenAPI generation) and the reader can import it without compiling a validator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

SCHEMA_PATH: Final = Path(__file__).with_name("purchase.schema.json")
PURCHASE_SCHEMA: Final[dict[str, Any]] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

PURCHASE_PROPERTIES: Final[Mapping[str, Mapping[str, Any]]] = PURCHASE_SCHEMA["properties"]
REQUIRED_FIELDS: Final[tuple[str, ...]] = tuple(PURCHASE_SCHEMA["required"])
# The schema's property order is the order clients see fields in.
FIELD_NAMES: Final[tuple[str, ...]] = tuple(PURCHASE_PROPERTIES)

# Assigned by the service (never accepted in a body); the table's partition key.
ID_FIELD: Final = "ProductPurchaseId"
# What a read returns for a purchase, in this order.
PUBLIC_FIELDS: Final[tuple[str, ...]] = (ID_FIELD, *FIELD_NAMES)
