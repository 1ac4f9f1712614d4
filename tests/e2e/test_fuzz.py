"""Property-based fuzzing of the running API with schemathesis, from the OpenAPI document `devkit.checks.openapi` builds
out of the same JSON Schema the handlers validate with.

Properties: no request, valid or not, gets a 5xx; no request that breaks the document is accepted (2xx); and
every response matches the document (status codes, content type, headers, body - so no bookkeeping fields leak).
Bounded and repeatable: a fixed seed, derandomized generation and a small number of examples per operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devkit.checks.openapi import openapi_document, stage_url

# E2E_FUZZ_EXAMPLES raises it for a deeper run; the default keeps the whole suite well under a minute.
MAX_EXAMPLES = int(os.environ.get("E2E_FUZZ_EXAMPLES", "15"))
SEED = 20240604
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Built at import from the document alone (no server): the stack's URL comes from the `api_url` fixture when a
# case is sent, so a missing stack fails these tests like the others instead of breaking collection.
# (schemathesis' lazy `from_fixture` loader does not work with pytest 9.2, which dropped `Node._nodeid`.)
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # HTTP APIs conventionally ignore query parameters they do not know; so does this one.
                "allow-extra-parameters": False,
            },
            # Stateful runs chain many calls per example; the single-operation phases cover the properties here.
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 10,
        }
    ),
)


@schema.parametrize()
def test_the_api_honours_its_openapi_document(
    case: schemathesis.Case[Any], api_url: str, bearer: Callable[[], dict[str, str]]
) -> None:
    # Given a request generated from the document, valid or deliberately invalid, from an authorized client
    # When it is sent to the running API
    # Then the API does not fail, refuses what the document forbids, and answers as documented
    case.call_and_validate(base_url=stage_url(api_url), headers=bearer(), checks=CHECKS)
