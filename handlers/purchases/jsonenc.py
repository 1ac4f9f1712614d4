"""JSON output that writes Decimals as exact JSON numbers.

json.dumps cannot write a Decimal, and going through float would turn a stored TotalPrice of
123456789012345.678901 into 123456789012345.67: responses spell numbers exactly as stored,
integral ones without a fraction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal

from purchases.model import plain_decimal


def dumps(value: object) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: object, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(json.dumps(value))
    elif value is None or isinstance(value, bool | int | float):
        # json.dumps refuses NaN and infinities with allow_nan=False, which are not JSON.
        parts.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("only finite numbers can be written as JSON")
        parts.append(plain_decimal(value))
    elif isinstance(value, Mapping):
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
            if index:
                parts.append(",")
            parts.append(json.dumps(key))
            parts.append(":")
            _write(item, parts)
        parts.append("}")
    elif isinstance(value, Sequence):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
