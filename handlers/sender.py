"""POST /product-purchase, PUT and DELETE /product-purchase/{id}: validate, then queue a write.

Replies 202 with the purchase's id as soon as the write is queued; the writer applies it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases import api
from purchases.adapters.dynamodb import DynamoDbPurchaseStore, lazy_table
from purchases.adapters.sqs import SqsWriteQueue, lazy_sqs_client
from purchases.commands import Accepted, PurchaseCommands, PurchaseNotFound
from purchases.config import SenderConfig
from purchases.identifiers import InvalidIdempotencyKey, parse_purchase_id
from purchases.lazy import Lazy, build_during_init
from purchases.model import Purchase
from purchases.observability import (
    PURCHASE_ACCEPTED,
    PURCHASE_REJECTED,
    build_logger,
    build_metrics,
    build_tracer,
    count,
)
from purchases.rules import InvalidPurchase, parse_purchase
from purchases.warm_up import WARM_UP_REPLY, is_warm_up

logger = build_logger()
tracer = build_tracer()
metrics = build_metrics()
config = SenderConfig.from_environ()

table = lazy_table(config.table_name)
sqs_client = lazy_sqs_client()
commands: Lazy[PurchaseCommands] = Lazy(
    lambda: PurchaseCommands(
        store=DynamoDbPurchaseStore(table),
        queue=SqsWriteQueue(config.queue_url, sqs_client),
    )
)

app = api.create_resolver(
    logger, {api.COLLECTION_PATH: frozenset({"POST"}), api.ITEM_PATH: frozenset({"PUT", "DELETE"})}
)


@app.post(api.COLLECTION_PATH)
def create_purchase() -> Response[str]:
    event = app.current_event
    purchase = _purchase_from_body()
    try:
        accepted = commands().create(purchase, api.request_id(event), api.header(event, "Idempotency-Key"))
    except InvalidIdempotencyKey as invalid:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, str(invalid)) from None
    return _accepted("create", accepted, {"Location": f"product-purchase/{accepted.purchase_id}"})


@app.put(api.ITEM_PATH)
def replace_purchase(purchase_id: str) -> Response[str]:
    canonical_id = _purchase_id(purchase_id)
    purchase = _purchase_from_body()
    try:
        accepted = commands().replace(canonical_id, purchase, api.request_id(app.current_event))
    except PurchaseNotFound:
        raise api.ApiError(HTTPStatus.NOT_FOUND, "Purchase not found") from None
    return _accepted("update", accepted)


@app.delete(api.ITEM_PATH)
def delete_purchase(purchase_id: str) -> Response[str]:
    canonical_id = _purchase_id(purchase_id)
    try:
        accepted = commands().delete(canonical_id, api.request_id(app.current_event))
    except PurchaseNotFound:
        raise api.ApiError(HTTPStatus.NOT_FOUND, "Purchase not found") from None
    return _accepted("delete", accepted)


def _purchase_id(raw: str) -> str:
    purchase_id = parse_purchase_id(raw)
    if purchase_id is None:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "ProductPurchaseId must be a UUID")
    return purchase_id


def _purchase_from_body() -> Purchase:
    document = api.read_json_body(app.current_event)
    try:
        return parse_purchase(document)
    except InvalidPurchase as invalid:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "Invalid purchase", invalid.errors) from None


def _accepted(action: str, accepted: Accepted, headers: dict[str, str] | None = None) -> Response[str]:
    logger.info(
        "Purchase write accepted",
        extra={"action": action, "purchase_id": accepted.purchase_id, "message_id": accepted.message_id},
    )
    body = {
        "message": "Message sent successfully",
        "messageId": accepted.message_id,
        "ProductPurchaseId": accepted.purchase_id,
    }
    return api.json_response(HTTPStatus.ACCEPTED, body, headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_warm_up(event):
        return dict(WARM_UP_REPLY)
    response = api.handle(app, event, context, logger)
    status = response["statusCode"]
    if status == HTTPStatus.ACCEPTED:
        count(metrics, PURCHASE_ACCEPTED)
    elif HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
        count(metrics, PURCHASE_REJECTED)
    return response


build_during_init(table, sqs_client)
