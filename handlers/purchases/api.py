"""HTTP plumbing shared by the two API functions (sender and reader).

Every response, including router 404/405s and failures outside any route, leaves through `handle`,
which guarantees the CORS headers: Powertools only adds them when the request has an Origin header,
and a 404 from its router never gets them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases import jsonenc
from purchases.ownership import Caller

if TYPE_CHECKING:
    # Type-only: the validation module compiles the schema, which the reader never needs.
    from purchases.validation import FieldError

MAX_BODY_BYTES: Final = 64 * 1024
# Page sizes of the list (the reader enforces them; the OpenAPI document imports them from here).
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
COLLECTION_PATH: Final = "/product-purchase"
ITEM_PATH: Final = "/product-purchase/<purchase_id>"

_EXTRA_REQUEST_HEADERS: Final = ["Idempotency-Key"]
_EXPOSED_HEADERS: Final = ["Location", "Link"]
CORS_CONFIG: Final = CORSConfig(
    allow_origin="*", allow_headers=_EXTRA_REQUEST_HEADERS, expose_headers=_EXPOSED_HEADERS
)
# Every method of the API, whichever function answers: a preflight may reach either function,
# and Powertools would list only the methods of the one it reached.
API_METHODS: Final = ("DELETE", "GET", "OPTIONS", "POST", "PUT")
CORS_HEADERS: Final[Mapping[str, str]] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": ",".join(sorted(CORS_CONFIG.allow_headers)),
    "Access-Control-Allow-Methods": ",".join(API_METHODS),
    "Access-Control-Expose-Headers": ",".join(_EXPOSED_HEADERS),
}
_INTERNAL_ERROR_BODY: Final = {"message": "Internal server error", "errors": []}


class ApiError(Exception):
    """A request the API refuses: becomes {"message": ..., "errors": [...]} with `status`."""

    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})


def json_response(
    status: HTTPStatus, body: object, headers: Mapping[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=jsonenc.dumps(body),
        headers=dict(headers or {}),
    )


def error_response(error: ApiError) -> Response[str]:
    return json_response(error.status, {"message": error.message, "errors": error.errors}, error.headers)


def create_resolver(logger: Logger, routes: Mapping[str, frozenset[str]]) -> APIGatewayRestResolver:
    """A resolver whose errors all share the API's error shape; `routes` maps each route this
    function serves to its methods, so a known path with another method answers 405."""
    app = APIGatewayRestResolver(cors=CORS_CONFIG, serializer=jsonenc.dumps)
    known_paths = [(_route_pattern(route), methods) for route, methods in routes.items()]

    def _refused(error: ApiError) -> Response[str]:
        logger.info(
            "Request refused",
            extra={"status": error.status.value, "fields": [item["field"] for item in error.errors]},
        )
        return error_response(error)

    def _failed(error: Exception) -> Response[str]:
        # The client learns nothing of the cause; the log gets the traceback.
        logger.exception("Unhandled error")
        return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR_BODY)

    def _no_route(error: NotFoundError) -> Response[str]:
        event = app.current_event
        for pattern, methods in known_paths:
            if not pattern.match(event.path):
                continue
            if event.http_method.upper() in methods:
                # The route exists, but Powertools' path-parameter pattern refused a character of the
                # id (an emoji, say): such an id cannot be a UUID.
                return error_response(ApiError(HTTPStatus.BAD_REQUEST, "ProductPurchaseId must be a UUID"))
            allowed = ", ".join(sorted(methods | {"OPTIONS"}))
            return error_response(
                ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", headers={"Allow": allowed})
            )
        return error_response(ApiError(HTTPStatus.NOT_FOUND, "Not found"))

    # Registered by call rather than as decorators: Powertools' exception_handler is untyped.
    app.exception_handler(ApiError)(_refused)
    app.exception_handler(Exception)(_failed)
    app.not_found(_no_route)
    return app


def handle(
    app: APIGatewayRestResolver, event: Mapping[str, Any], context: LambdaContext, logger: Logger
) -> dict[str, Any]:
    try:
        response = app.resolve(event, context)
    except Exception:
        logger.exception("Unhandled error outside the routes")
        response = {
            "statusCode": HTTPStatus.INTERNAL_SERVER_ERROR.value,
            "body": jsonenc.dumps(_INTERNAL_ERROR_BODY),
            "isBase64Encoded": False,
            "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
        }
    return with_cors_headers(response)


def with_cors_headers(response: dict[str, Any]) -> dict[str, Any]:
    """`response` carrying exactly the API's CORS headers, replacing any Powertools put there."""
    cors_names = {name.lower() for name in CORS_HEADERS}
    multi_value = response.get("multiValueHeaders")
    single_value = response.get("headers")
    if isinstance(multi_value, dict) or single_value is None:
        kept = {
            name: values for name, values in (multi_value or {}).items() if name.lower() not in cors_names
        }
        response["multiValueHeaders"] = {**kept, **{name: [value] for name, value in CORS_HEADERS.items()}}
    else:
        kept_single = {name: value for name, value in single_value.items() if name.lower() not in cors_names}
        response["headers"] = {**kept_single, **CORS_HEADERS}
    return response


def client_id(event: APIGatewayProxyEvent) -> str | None:
    """The OAuth client that called, from the access token the API's Cognito authorizer checked."""
    value = event.request_context.authorizer.claims.get("client_id")
    return value if isinstance(value, str) and value else None


def caller(event: APIGatewayProxyEvent) -> Caller | None:
    """The calling client and whether its token carries the admin scope (the `scope` claim the authorizer
    checked); None without a client_id claim."""
    identity = client_id(event)
    if identity is None:
        return None
    scopes = event.request_context.authorizer.claims.get("scope")
    return Caller.from_claims(identity, scopes.split() if isinstance(scopes, str) else ())


def require_caller(event: APIGatewayProxyEvent, logger: Logger) -> Caller:
    """`caller(event)`, logged with every later line of the request; refuses (401) a request without one: the
    API's authorizer guarantees a client_id claim, so its absence is a misconfiguration, never guessed around."""
    found = caller(event)
    if found is None:
        logger.warning(
            "Request without the authorizer's client_id claim: is the Cognito authorizer attached?"
        )
        raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized")
    logger.append_keys(client_id=found.client_id, admin=found.admin)
    return found


def request_id(event: APIGatewayProxyEvent) -> str:
    return event.request_context.request_id or ""


def header(event: APIGatewayProxyEvent, name: str) -> str | None:
    """A request header, whatever the case the client (or the local engine) gave its name."""
    value: str | None = event.headers.get(name)
    return value


def read_json_body(event: APIGatewayProxyEvent) -> object:
    """The request body as parsed JSON (numbers with a fraction as Decimal); raises `ApiError`."""
    body = event.body
    if not body:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Request body is required")
    # The limit is on the bytes the client sent, which a base64 body (binary media types) is 4/3 of.
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Request body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"Request body must not exceed {MAX_BODY_BYTES} bytes"
        )
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicate_keys,
        )
    except (ValueError, RecursionError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "Request body is not valid JSON") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With duplicates, which value counts depends on the parser; refusing them means the value
    # this service checked is the value every reader of the message sees.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return document


def _route_pattern(route: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"<\w+>", "[^/]+", route) + "/*$")
