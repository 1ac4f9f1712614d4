"""The API's OpenAPI 3.0 description, generated from the purchase JSON Schema the handlers and API Gateway use.

`handlers/purchases/purchase.schema.json` stays the one definition of a purchase: this module only translates it
from JSON Schema draft-04 into an OpenAPI 3.0 Schema Object and wraps the five operations around it, so fuzzers
and clients see exactly the rules the service enforces.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

from devkit.core.project import HANDLERS
from seed.send import load_samples

# Every limit below is imported from the handler code that enforces it, never restated (the handlers' folder is
# the functions' code root, so its packages import as top-level ones there and here alike).
if str(HANDLERS) not in sys.path:
    sys.path.append(str(HANDLERS))

from devkit.stack.auth import ADMIN_SCOPE, READ_SCOPE, WRITE_SCOPE
from purchases.api import DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE
from purchases.idempotency import KEY_LIFETIME_SECONDS
from purchases.identifiers import MAX_IDEMPOTENCY_KEY_LENGTH
from purchases.schema import ID_FIELD

PURCHASE_SCHEMA_FILE: Final = HANDLERS / "purchases" / "purchase.schema.json"
OPENAPI_VERSION: Final = "3.0.3"
COLLECTION_PATH: Final = "/product-purchase"
ITEM_PATH: Final = "/product-purchase/{id}"
DEFAULT_LIMIT: Final = DEFAULT_PAGE_SIZE
MAX_LIMIT: Final = MAX_PAGE_SIZE
SECURITY_SCHEME: Final = "purchasesOAuth"
# Without a deployed stack the token endpoint is unknown; relative to the server it is right on MiniStack only.
DEFAULT_TOKEN_URL: Final = "/oauth2/token"
# Shown to readers and sent by fuzzers' example phase, so a valid write is always among the requests tried.
PURCHASE_EXAMPLE: Final = load_samples()[0]

# Which keywords constrain which JSON type (draft-04 applies each only to values of its type).
_NUMERIC_KEYWORDS: Final = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
_STRING_KEYWORDS: Final = frozenset({"minLength", "maxLength", "pattern", "format"})
_TYPE_SPECIFIC: Final = _NUMERIC_KEYWORDS | _STRING_KEYWORDS
# JSON Schema keywords that OpenAPI 3.0's Schema Object does not have.
_UNSUPPORTED: Final = frozenset({"$schema", "id", "$id", "definitions", "dependencies", "patternProperties"})


def load_purchase_schema(path: Path = PURCHASE_SCHEMA_FILE) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def stage_url(api_url: str) -> str:
    """The server URL for the document from the `ProductPurchaseApi` output (which ends in `/product-purchase/`)."""
    base = api_url.rstrip("/")
    suffix = COLLECTION_PATH
    return base[: -len(suffix)] if base.endswith(suffix) else base


def to_openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A draft-04 JSON Schema as an OpenAPI 3.0 Schema Object with the same meaning.

    OpenAPI 3.0 allows one `type` per schema, so a list of types becomes `anyOf` with each type carrying only the
    keywords that apply to it (in draft-04 `minimum` never constrains a string, nor `pattern` a number). The
    boolean `exclusiveMinimum`/`exclusiveMaximum` of draft-04 is also OpenAPI 3.0's form and is kept; the numeric
    form of later drafts is turned back into it.
    """
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED:
            continue
        if key == "properties":
            result[key] = {name: to_openapi_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            result[key] = to_openapi_schema(value)
        elif key in {"anyOf", "oneOf", "allOf"}:
            result[key] = [to_openapi_schema(sub) for sub in value]
        elif key in {"not", "additionalProperties"} and isinstance(value, dict):
            result[key] = to_openapi_schema(value)
        else:
            result[key] = copy.deepcopy(value)
    _normalize_exclusive_bounds(result)
    types = result.get("type")
    if isinstance(types, list):
        return _split_types(result, types)
    return result


def _normalize_exclusive_bounds(schema: dict[str, Any]) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            schema[bound] = value
            schema[exclusive] = True


def _split_types(schema: dict[str, Any], types: list[str]) -> dict[str, Any]:
    shared = {key: value for key, value in schema.items() if key not in _TYPE_SPECIFIC and key != "type"}
    nullable = "null" in types
    branches = []
    for type_name in (name for name in types if name != "null"):
        keywords = (
            _NUMERIC_KEYWORDS
            if type_name in {"number", "integer"}
            else (_STRING_KEYWORDS if type_name == "string" else frozenset())
        )
        branch: dict[str, Any] = {"type": type_name}
        branch.update({key: value for key, value in schema.items() if key in keywords})
        branches.append(branch)
    result = dict(shared)
    if len(branches) == 1:
        result.update(branches[0])
    else:
        result["anyOf"] = branches
    if nullable:
        result["nullable"] = True
    return result


def _stored_form(purchase: dict[str, Any]) -> dict[str, Any]:
    """A purchase as the API returns it: numbers only as numbers, the id added, nothing else (no bookkeeping)."""
    properties: dict[str, Any] = {}
    for name, schema in purchase["properties"].items():
        numeric = [
            branch for branch in schema.get("anyOf", []) if branch.get("type") in {"number", "integer"}
        ]
        if numeric:
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            properties[name] = {**rest, **numeric[0]}
        else:
            properties[name] = schema
    properties[ID_FIELD] = {"type": "string", "format": "uuid"}
    required = [ID_FIELD, *purchase["required"]]
    # TotalPrice is derived when a client leaves it out, so every stored purchase has one.
    if "TotalPrice" in properties and "TotalPrice" not in required:
        required.append("TotalPrice")
    return {
        "title": "StoredPurchase",
        "description": "A purchase as the API returns it: numbers as JSON numbers, with its id.",
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _cors_headers() -> dict[str, Any]:
    return {"Access-Control-Allow-Origin": {"$ref": "#/components/headers/AccessControlAllowOrigin"}}


def _json_response(
    description: str, schema_ref: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**_cors_headers(), **(headers or {})},
        "content": {"application/json": {"schema": {"$ref": schema_ref}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json_response(description, "#/components/schemas/Error")


def _secured(operation: dict[str, Any], scope: str) -> dict[str, Any]:
    """`operation` needing a bearer token with `scope`, with API Gateway's own refusals documented."""
    responses = {
        **operation["responses"],
        "401": _json_response(
            "No access token, or one that is malformed, expired, from another issuer, badly signed, or without "
            f"the `{scope}` scope (API Gateway's answer).",
            "#/components/schemas/Error",
            {"WWW-Authenticate": {"$ref": "#/components/headers/WwwAuthenticate"}},
        ),
        "403": _error("The token is not allowed to call this operation (API Gateway's answer)."),
    }
    return {**operation, "security": [{SECURITY_SCHEME: [scope]}], "responses": responses}


def _accepted(description: str, *, with_location: bool = False) -> dict[str, Any]:
    headers = {"Location": {"$ref": "#/components/headers/Location"}} if with_location else None
    return _json_response(description, "#/components/schemas/Accepted", headers)


def _purchase_body(description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"{description} At most {MAX_BODY_BYTES // 1024} KiB.",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Purchase"},
                "example": dict(PURCHASE_EXAMPLE),
            }
        },
    }


def openapi_document(
    server_url: str | None = None,
    *,
    schema_path: Path = PURCHASE_SCHEMA_FILE,
    token_url: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 description of the API, as plain JSON-ready dicts.

    `server_url` is the stage's base URL, under which `/product-purchase` lives (`stage_url()` turns the
    `ProductPurchaseApi` output into it); without it the document has no `servers` entry. `token_url` is the
    stage's `TokenUrl` output, the OAuth 2.0 client-credentials endpoint.
    """
    purchase = to_openapi_schema(load_purchase_schema(schema_path))
    purchase.setdefault("title", "Purchase")
    bad_request = _error(
        "The request is malformed: invalid JSON, a body that breaks the schema, a bad id or query."
    )
    not_found = _error(
        "No purchase with this id that the caller may see: never created, deleted, or another client's (one "
        f"answer for all three). `{ADMIN_SCOPE}` sees every client's purchases."
    )
    too_large = _error(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    id_parameter = {"$ref": "#/components/parameters/PurchaseId"}
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Product purchase API",
            "version": "1.0.0",
            "description": (
                "Records product purchases. Writes are accepted (202) and applied asynchronously through a queue; "
                "a read shortly after a write may not show it yet. Every response carries CORS headers."
            ),
        },
        "paths": {
            COLLECTION_PATH: {
                "post": _secured(
                    {
                        "operationId": "createPurchase",
                        "summary": "Accept a new purchase; the service assigns its id.",
                        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
                        "requestBody": _purchase_body("The purchase; `ProductPurchaseId` must not be sent."),
                        "responses": {
                            "202": _accepted(
                                "Accepted; the purchase becomes readable shortly.", with_location=True
                            ),
                            "400": bad_request,
                            "409": _error(
                                "A request with this Idempotency-Key from this client is still being processed."
                            ),
                            "413": too_large,
                            "422": _error(
                                "This client already used the Idempotency-Key for a different purchase (also "
                                "once the key's record has expired: the purchase the key created is compared)."
                            ),
                        },
                    },
                    WRITE_SCOPE,
                ),
                "get": _secured(
                    {
                        "operationId": "listPurchases",
                        "summary": f"One page of the caller's own purchases (every client's with `{ADMIN_SCOPE}`).",
                        "parameters": [
                            {"$ref": "#/components/parameters/Limit"},
                            {"$ref": "#/components/parameters/Cursor"},
                        ],
                        "responses": {
                            "200": _json_response(
                                "A page of purchases; `Link` names the next page when there is one.",
                                "#/components/schemas/PurchaseList",
                                {"Link": {"$ref": "#/components/headers/Link"}},
                            ),
                            "400": bad_request,
                        },
                    },
                    READ_SCOPE,
                ),
            },
            ITEM_PATH: {
                "parameters": [id_parameter],
                "get": _secured(
                    {
                        "operationId": "getPurchase",
                        "summary": "One purchase.",
                        "responses": {
                            "200": _json_response("The purchase.", "#/components/schemas/StoredPurchase"),
                            "400": bad_request,
                            "404": not_found,
                        },
                    },
                    READ_SCOPE,
                ),
                "put": _secured(
                    {
                        "operationId": "replacePurchase",
                        "summary": "Accept a full replacement of an existing purchase.",
                        "requestBody": _purchase_body(
                            "The whole new purchase; `ProductPurchaseId` must not be sent."
                        ),
                        "responses": {
                            "202": _accepted("Accepted; the new state becomes readable shortly."),
                            "400": bad_request,
                            "404": not_found,
                            "413": too_large,
                        },
                    },
                    WRITE_SCOPE,
                ),
                "delete": _secured(
                    {
                        "operationId": "deletePurchase",
                        "summary": "Accept the deletion of an existing purchase.",
                        "responses": {
                            "202": _accepted("Accepted; the purchase disappears shortly."),
                            "400": bad_request,
                            "404": not_found,
                        },
                    },
                    WRITE_SCOPE,
                ),
            },
        },
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": (
                        "OAuth 2.0 client credentials against the stage's Cognito user pool; send the access "
                        "token as `Authorization: Bearer <token>`."
                    ),
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": token_url or DEFAULT_TOKEN_URL,
                            "scopes": {
                                READ_SCOPE: "List and read purchases.",
                                WRITE_SCOPE: "Create, replace and delete purchases.",
                                ADMIN_SCOPE: (
                                    "With the scopes above: every client's purchases, not only the caller's own. "
                                    "Never granted by default."
                                ),
                            },
                        }
                    },
                }
            },
            "schemas": {
                "Purchase": purchase,
                "StoredPurchase": _stored_form(purchase),
                "PurchaseList": {"type": "array", "items": {"$ref": "#/components/schemas/StoredPurchase"}},
                "Accepted": {
                    "type": "object",
                    "required": ["message", "messageId", ID_FIELD],
                    "properties": {
                        "message": {"type": "string", "enum": ["Message sent successfully"]},
                        # null when an Idempotency-Key retry finds its purchase already there: nothing new is queued.
                        "messageId": {"type": "string", "minLength": 1, "nullable": True},
                        ID_FIELD: {"type": "string", "format": "uuid"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["message", "errors"],
                    "properties": {"message": {"type": "string"}, "errors": {"type": "array", "items": {}}},
                },
            },
            "parameters": {
                "PurchaseId": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "description": "The purchase's id, as the service assigned it.",
                    "schema": {"type": "string", "format": "uuid"},
                },
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "Page size.",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                },
                "Cursor": {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "Where the page starts: copy it from the previous page's `Link` header; opaque.",
                    "schema": {"type": "string", "minLength": 1},
                },
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Retrying with the same key (and the same purchase) replays the first answer and creates "
                        "nothing new. Keys are scoped to the calling client and remembered for "
                        f"{KEY_LIFETIME_SECONDS // 3600} hours."
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                },
            },
            "headers": {
                "AccessControlAllowOrigin": {
                    "description": "CORS: any origin may call the API. On every response, errors included.",
                    "required": True,
                    "schema": {"type": "string", "enum": ["*"]},
                },
                "Location": {
                    "description": "Where the new purchase will be readable, relative to the API's base URL.",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "Link": {
                    "description": 'The next page, as `<url>; rel="next"`; absent on the last page.',
                    "schema": {"type": "string"},
                },
                "WwwAuthenticate": {
                    "description": "The authentication scheme the API expects (RFC 6750).",
                    "schema": {"type": "string", "enum": ["Bearer"]},
                },
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url.rstrip("/")}]
    return document
