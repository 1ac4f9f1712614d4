"""GET /product-purchase (paged) and GET /product-purchase/{id}: the caller's own purchases, or every caller's
with the admin scope (`purchases.ownership`)."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases import api
from purchases.adapters.clients import API_CALLS
from purchases.adapters.dynamodb import DynamoDbPurchaseStore, lazy_table
from purchases.config import ReaderConfig
from purchases.identifiers import parse_purchase_id
from purchases.lazy import Lazy, build_during_init
from purchases.observability import build_logger, build_tracer
from purchases.ownership import may_access
from purchases.ports import InvalidCursor, PurchaseStore

DEFAULT_PAGE_SIZE: Final = api.DEFAULT_PAGE_SIZE
MAX_PAGE_SIZE: Final = api.MAX_PAGE_SIZE
_DIGITS: Final = re.compile(r"[0-9]{1,3}")

logger = build_logger()
tracer = build_tracer()
config = ReaderConfig.from_environ()

# One GetItem, or one Query of a page, per request, within API_CALLS; the template gives the function time for it.
AWS_CALLS_PER_REQUEST = 1
table = lazy_table(config.table_name, API_CALLS)
store: Lazy[PurchaseStore] = Lazy(lambda: DynamoDbPurchaseStore(table))

app = api.create_resolver(
    logger, {api.COLLECTION_PATH: frozenset({"GET"}), api.ITEM_PATH: frozenset({"GET"})}
)


@app.get(api.COLLECTION_PATH)
def list_purchases() -> Response[str]:
    parameters = app.current_event.query_string_parameters
    limit = _page_size(parameters.get("limit"))
    caller = api.require_caller(app.current_event, logger)
    cursor = parameters.get("cursor")
    try:
        if caller.admin:
            page = store().page(limit, cursor)
        else:
            page = store().owned_page(caller.client_id, limit, cursor)
    except InvalidCursor:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "cursor is not valid; start again without it") from None
    headers = {}
    if page.next_cursor is not None:
        # Relative on purpose: behind a custom domain, a stage or the local engine the function
        # cannot know the URL prefix the client used, and a reference relative to it resolves.
        headers["Link"] = f'<?limit={limit}&cursor={page.next_cursor}>; rel="next"'
    logger.info("Purchases listed", extra={"count": len(page.items), "more": page.next_cursor is not None})
    return api.json_response(HTTPStatus.OK, page.items, headers)


@app.get(api.ITEM_PATH)
def get_purchase(purchase_id: str) -> Response[str]:
    canonical_id = parse_purchase_id(purchase_id)
    if canonical_id is None:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "ProductPurchaseId must be a UUID")
    caller = api.require_caller(app.current_event, logger)
    stored = store().get(canonical_id)
    # Another caller's purchase gets the very answer of a missing one: its existence is not the caller's to know.
    if stored is None or stored.deleted or not may_access(caller, stored.owner):
        raise api.ApiError(HTTPStatus.NOT_FOUND, "Purchase not found")
    # One line per request also serves MiniStack: it waits 50 ms for output from a function that wrote none.
    logger.info("Purchase read", extra={"purchase_id": canonical_id})
    return api.json_response(HTTPStatus.OK, stored.attributes)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if _DIGITS.fullmatch(raw) is None or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.handle(app, event, context, logger)


build_during_init(table)
