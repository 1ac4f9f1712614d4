"""Checking a document against the purchase schema, with errors a client can act on.

The validator is compiled once, when this module is first imported, never per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final, TypedDict

import fastjsonschema

from purchases.schema import FIELD_NAMES, ID_FIELD, PURCHASE_PROPERTIES, PURCHASE_SCHEMA, REQUIRED_FIELDS

WHOLE_BODY: Final = "body"
# A hostile body can hold thousands of unknown keys, each up to the body size: error responses
# stay small by listing a bounded number of problems and clipping the names they echo.
MAX_ERRORS: Final = 25
MAX_ECHOED_NAME: Final = 64

_validate_purchase: Final = fastjsonschema.compile(PURCHASE_SCHEMA)


class FieldError(TypedDict):
    """One problem with a request, as listed in an error response's `errors`."""

    field: str
    message: str


def schema_errors(document: object) -> list[FieldError]:
    """Every way `document` breaks the schema; empty when it conforms."""
    try:
        _validate_purchase(document)
    except fastjsonschema.JsonSchemaValueException as first_error:
        return _explain(document) or [_field_error(WHOLE_BODY, first_error)]
    return []


def _explain(document: object) -> list[FieldError]:
    # fastjsonschema stops at the first problem; a client fixing one field at a time would need
    # many round trips, so on the (rare) failure path each field is checked on its own.
    if not isinstance(document, dict):
        return [FieldError(field=WHOLE_BODY, message="must be a JSON object")]
    errors: list[FieldError] = []
    if ID_FIELD in document:
        errors.append(FieldError(field=ID_FIELD, message="is assigned by the service and must not be sent"))
    for name in REQUIRED_FIELDS:
        if name not in document:
            errors.append(FieldError(field=name, message="is required"))
    for name in FIELD_NAMES:
        if name in document:
            try:
                _property_validator(name)(document[name])
            except fastjsonschema.JsonSchemaValueException as error:
                errors.append(_field_error(name, error))
    for name in document:
        if name != ID_FIELD and name not in PURCHASE_PROPERTIES:
            errors.append(FieldError(field=str(name)[:MAX_ECHOED_NAME], message="is not a known field"))
    return errors[:MAX_ERRORS]


@functools.cache
def _property_validator(name: str) -> Callable[[object], object]:
    # The draft must be carried over: fastjsonschema would otherwise read `exclusiveMinimum: true`
    # with draft-07 meaning.
    subschema = {"$schema": PURCHASE_SCHEMA["$schema"], **PURCHASE_PROPERTIES[name]}
    validator: Callable[[object], object] = fastjsonschema.compile(subschema)
    return validator


def _field_error(field: str, error: fastjsonschema.JsonSchemaValueException) -> FieldError:
    # A pattern is no message for a person: the schema's description of the field says what it must be.
    description = PURCHASE_PROPERTIES.get(field, {}).get("description")
    if error.rule == "pattern" and isinstance(description, str) and description.startswith("must "):
        return FieldError(field=field, message=description)
    message = str(error.message)
    prefix = f"{error.name} "
    return FieldError(field=field, message=message.removeprefix(prefix))
