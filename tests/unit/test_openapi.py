"""The OpenAPI document: valid OpenAPI 3.0, all five operations, and a Purchase schema derived from the one file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.definitions import OPENAPI_30

from devkit.checks.openapi import (
    PURCHASE_SCHEMA_FILE,
    load_purchase_schema,
    openapi_document,
    stage_url,
    to_openapi_schema,
)
from seed.send import load_samples

SERVER = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
# The official OpenAPI 3.0 JSON Schema (2019-04-02) as schemathesis ships it; openapi-spec-validator is not a
# dependency, and this is the schema that tool validates 3.0 documents with as well.
OPENAPI_30_VALIDATOR = jsonschema.Draft4Validator(OPENAPI_30)
OPERATIONS = {
    ("POST", "/product-purchase"),
    ("GET", "/product-purchase"),
    ("GET", "/product-purchase/{id}"),
    ("PUT", "/product-purchase/{id}"),
    ("DELETE", "/product-purchase/{id}"),
}
VALID = {key: value for key, value in load_samples()[0].items() if key != "ProductDescription"}
# Documents on both sides of each rule of the schema file, numbers written both ways.
SAMPLES: list[Any] = [
    VALID,
    {**VALID, "PricePerUnit": 10.5, "Quantity": 2, "TotalPrice": 21},
    {**VALID, "PricePerUnit": 0},
    {**VALID, "PricePerUnit": -1},
    {**VALID, "PricePerUnit": 1_000_000_001},
    {**VALID, "PricePerUnit": "abc"},
    {**VALID, "PricePerUnit": "1.1234567"},
    {**VALID, "PricePerUnit": True},
    {**VALID, "PricePerUnit": None},
    {**VALID, "Quantity": 1.5},
    {**VALID, "Quantity": 0},
    {**VALID, "Quantity": "12345678"},
    {**VALID, "ProductName": ""},
    {**VALID, "ProductName": "   "},
    {**VALID, "ProductName": "x" * 257},
    {**VALID, "ProductId": "has space"},
    {**VALID, "TimeOfPurchase": "yesterday"},
    {**VALID, "ProductPurchaseId": "6f1c5e0a-3b7d-5d2e-9a44-8c1f0b7e2d93"},
    {**VALID, "Colour": "red"},
    {key: value for key, value in VALID.items() if key != "CustomerId"},
    [VALID],
    "a purchase",
    None,
]


def _document() -> dict[str, Any]:
    return openapi_document(SERVER)


def test_the_document_is_valid_openapi_3_0() -> None:
    # Given the generated document
    document = _document()
    # When it is checked against the OpenAPI 3.0 schema
    errors = list(OPENAPI_30_VALIDATOR.iter_errors(document))
    # Then it conforms, and it is plain JSON
    assert not errors, [error.message for error in errors]
    assert json.loads(json.dumps(document)) == document
    assert document["openapi"] == "3.0.3"


def test_the_validity_check_would_catch_a_draft_04_schema_pasted_as_is() -> None:
    # Given a document whose Purchase is the raw draft-04 file (type lists are not OpenAPI 3.0)
    document = copy.deepcopy(_document())
    raw = load_purchase_schema()
    raw.pop("$schema")
    document["components"]["schemas"]["Purchase"] = raw
    # When it is validated
    # Then it is refused: the check above is not vacuous
    assert not OPENAPI_30_VALIDATOR.is_valid(document)


def test_schemathesis_loads_it_with_exactly_the_five_operations() -> None:
    # Given the document loaded the way the end-to-end fuzzing loads it
    schema = schemathesis.openapi.from_dict(_document())
    # When its operations are listed
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = {
        (result.ok().method.upper(), result.ok().path) for result in results if isinstance(result, Ok)
    }
    # Then they are the API's five
    assert operations == OPERATIONS


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: json.dumps(sample)[:60])
def test_the_purchase_schema_accepts_exactly_what_the_schema_file_accepts(sample: Any) -> None:
    # Given the schema file and the Purchase schema in the document
    original = jsonschema.Draft4Validator(load_purchase_schema())
    converted = jsonschema.Draft4Validator(_document()["components"]["schemas"]["Purchase"])
    # When both judge the same document
    # Then they agree
    assert converted.is_valid(sample) == original.is_valid(sample)


def test_the_request_example_is_a_valid_purchase() -> None:
    body = _document()["paths"]["/product-purchase"]["post"]["requestBody"]["content"]["application/json"]
    assert jsonschema.Draft4Validator(load_purchase_schema()).is_valid(body["example"])


def test_the_samples_cover_both_verdicts() -> None:
    original = jsonschema.Draft4Validator(load_purchase_schema())
    verdicts = {original.is_valid(sample) for sample in SAMPLES}
    assert verdicts == {True, False}


def test_the_purchase_schema_is_derived_from_the_file(tmp_path: Path) -> None:
    # Given a schema file with a new optional field and a tighter limit
    schema = json.loads(PURCHASE_SCHEMA_FILE.read_text())
    schema["properties"]["Coupon"] = {"type": "string", "maxLength": 12}
    schema["properties"]["ProductName"]["maxLength"] = 99
    changed = tmp_path / "purchase.schema.json"
    changed.write_text(json.dumps(schema))
    # When the document is generated from it
    purchase = openapi_document(schema_path=changed)["components"]["schemas"]["Purchase"]
    # Then the document follows the file
    assert purchase["properties"]["Coupon"] == {"type": "string", "maxLength": 12}
    assert purchase["properties"]["ProductName"]["maxLength"] == 99
    assert purchase["required"] == schema["required"]
    assert purchase["additionalProperties"] is False


def test_type_lists_become_anyof_with_each_keyword_on_its_own_type() -> None:
    # Given a draft-04 property that may be a number or a string
    draft04 = {
        "type": ["number", "string", "null"],
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10,
        "pattern": "^[0-9]+$",
        "description": "a price",
    }
    # When it is converted
    converted = to_openapi_schema({"$schema": "http://json-schema.org/draft-04/schema#", **draft04})
    # Then numeric limits stay on the number branch and the pattern on the string branch
    assert converted == {
        "description": "a price",
        "anyOf": [
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 10},
            {"type": "string", "pattern": "^[0-9]+$"},
        ],
        "nullable": True,
    }


def test_a_numeric_exclusive_minimum_becomes_the_openapi_3_0_boolean_form() -> None:
    assert to_openapi_schema({"type": "number", "exclusiveMinimum": 0}) == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
    }


def test_responses_are_numbers_only_and_carry_no_bookkeeping() -> None:
    # Given the schema of a purchase as the API returns it
    stored = _document()["components"]["schemas"]["StoredPurchase"]
    # Then numbers are only numbers, the id is a UUID, TotalPrice is always there, and nothing else may appear
    assert stored["properties"]["PricePerUnit"]["type"] == "number"
    assert stored["properties"]["Quantity"]["type"] == "integer"
    assert stored["properties"]["TotalPrice"]["type"] == "number"
    assert stored["properties"]["ProductPurchaseId"] == {"type": "string", "format": "uuid"}
    assert {"ProductPurchaseId", "TotalPrice"} <= set(stored["required"])
    assert stored["additionalProperties"] is False
    assert not {"Version", "Deleted", "ExpiresAt"} & stored["properties"].keys()


def test_parameters_match_the_contract() -> None:
    parameters = _document()["components"]["parameters"]
    assert parameters["PurchaseId"]["in"] == "path"
    assert parameters["PurchaseId"]["schema"] == {"type": "string", "format": "uuid"}
    assert parameters["Limit"]["schema"]["minimum"] == 1
    assert parameters["Limit"]["schema"]["maximum"] == 100
    assert parameters["Limit"]["schema"]["default"] == 50
    assert parameters["Cursor"]["in"] == "query"
    assert parameters["IdempotencyKey"]["in"] == "header"


def test_every_response_documents_cors_and_the_contract_headers() -> None:
    paths = _document()["paths"]
    # Given every operation's responses
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                # Then each one has the CORS header and a JSON body
                assert "Access-Control-Allow-Origin" in response["headers"], (method, path, status)
                assert "application/json" in response["content"], (method, path, status)
    assert "Location" in paths["/product-purchase"]["post"]["responses"]["202"]["headers"]
    assert "Link" in paths["/product-purchase"]["get"]["responses"]["200"]["headers"]
    assert set(paths["/product-purchase/{id}"]["get"]["responses"]) == {"200", "400", "401", "403", "404"}
    assert set(paths["/product-purchase"]["post"]["responses"]) == {
        "202",
        "400",
        "401",
        "403",
        "409",
        "413",
        "422",
    }


def test_servers_come_from_the_stack_output() -> None:
    # Given the ProductPurchaseApi output of a stack
    output = f"{SERVER}/product-purchase/"
    # When it becomes the document's server
    document = openapi_document(stage_url(output))
    # Then paths resolve under the stage, and without a URL there is no server entry
    assert document["servers"] == [{"url": SERVER}]
    assert "servers" not in openapi_document()


def test_every_operation_needs_an_oauth_token_with_its_scope() -> None:
    document = openapi_document(
        token_url="https://purchases-dev-1.auth.eu-west-1.amazoncognito.com/oauth2/token"
    )
    # Given the client-credentials scheme with the read, write and admin scopes
    scheme = document["components"]["securitySchemes"]["purchasesOAuth"]
    flow = scheme["flows"]["clientCredentials"]
    assert scheme["type"] == "oauth2"
    assert flow["tokenUrl"].endswith("amazoncognito.com/oauth2/token")
    assert set(flow["scopes"]) == {"purchases/read", "purchases/write", "purchases/admin"}
    # Then reads need purchases/read, writes purchases/write, and each documents the gateway's 401/403
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            scope = "purchases/read" if method == "get" else "purchases/write"
            assert operation["security"] == [{"purchasesOAuth": [scope]}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_documents_limits_are_the_ones_the_handlers_enforce() -> None:
    from purchases.api import DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE
    from purchases.identifiers import MAX_IDEMPOTENCY_KEY_LENGTH

    parameters = _document()["components"]["parameters"]
    assert parameters["IdempotencyKey"]["schema"]["maxLength"] == MAX_IDEMPOTENCY_KEY_LENGTH == 128
    assert parameters["Limit"]["schema"]["maximum"] == MAX_PAGE_SIZE
    assert parameters["Limit"]["schema"]["default"] == DEFAULT_PAGE_SIZE
    body = _document()["paths"]["/product-purchase"]["post"]["requestBody"]["description"]
    assert f"{MAX_BODY_BYTES // 1024} KiB" in body


def test_a_purchase_of_another_client_is_documented_as_not_found_and_admin_as_seeing_all() -> None:
    # Given the document, then each item operation's 404 covers another client's purchase, and the list says whose
    document = openapi_document()
    for method, operation in document["paths"]["/product-purchase/{id}"].items():
        if method != "parameters":
            assert "another client's" in operation["responses"]["404"]["description"], method
    assert "purchases/admin" in document["paths"]["/product-purchase"]["get"]["summary"]
