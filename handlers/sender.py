"""POST /product-purchase, PUT and DELETE /product-purchase/{id}: validate, then queue a write.

Replies 202 with the purchase's id as soon as the write is queued; the writer applies it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases import api
from purchases.adapters.clients import API_CALLS
from purchases.adapters.dynamodb import DynamoDbPurchaseStore, idempotency_store, lazy_table
from purchases.adapters.kms import KmsMessageAuthenticator, lazy_kms_client
from purchases.adapters.sqs import SqsWriteQueue, lazy_sqs_client
from purchases.commands import Accepted, IdempotencyKeyReused, PurchaseCommands, PurchaseNotFound
from purchases.config import SenderConfig
from purchases.idempotency import KEY_PREFIX, idempotency_config, idempotent_request
from purchases.identifiers import InvalidIdempotencyKey, parse_purchase_id
from purchases.lazy import Lazy, build_during_init
from purchases.messages import UndeliverableMessage
from purchases.model import Purchase
from purchases.observability import (
    PURCHASE_ACCEPTED,
    PURCHASE_REJECTED,
    build_logger,
    build_metrics,
    build_tracer,
    count,
)
from purchases.ownership import Caller
from purchases.rules import InvalidPurchase, parse_purchase
from purchases.validation import FieldError

logger = build_logger()
tracer = build_tracer()
metrics = build_metrics()
config = SenderConfig.from_environ()

# A write request makes at most this many AWS calls, each within API_CALLS: a POST with an Idempotency-Key
# claims the key, checks whether its purchase exists already, signs the message, sends it, and saves the answer
# (a PUT or DELETE: checks the purchase and its owner, signs, then sends). The template gives the function time for
# all of them.
AWS_CALLS_PER_REQUEST = 5
table = lazy_table(config.table_name, API_CALLS)
sqs_client = lazy_sqs_client(API_CALLS)
kms_client = lazy_kms_client(API_CALLS)
commands: Lazy[PurchaseCommands] = Lazy(
    lambda: PurchaseCommands(
        store=DynamoDbPurchaseStore(table),
        queue=SqsWriteQueue(
            config.queue_url, sqs_client, KmsMessageAuthenticator(config.signing_key_id, kms_client)
        ),
    )
)
idempotency = idempotency_config()
idempotency_records: Lazy[BasePersistenceLayer] = Lazy(
    lambda: idempotency_store(config.idempotency_table_name, API_CALLS)
)

KEY_REUSED_MESSAGE = "This Idempotency-Key was already used with a different purchase"

app = api.create_resolver(
    logger, {api.COLLECTION_PATH: frozenset({"POST"}), api.ITEM_PATH: frozenset({"PUT", "DELETE"})}
)


def _undeliverable(error: UndeliverableMessage) -> Response[str]:
    # The queue adapter checks each message with the writer's decoder before sending it: what the writer
    # would refuse is refused here, with the fields at fault, instead of being dead-lettered after a 202.
    if not error.fields:
        raise error  # not the client's input: a fault of the service (500)
    problems = [FieldError(field=field, message="cannot be stored as sent") for field in error.fields]
    return api.error_response(api.ApiError(HTTPStatus.BAD_REQUEST, "Invalid purchase", problems))


app.exception_handler(UndeliverableMessage)(_undeliverable)


@app.post(api.COLLECTION_PATH)
def create_purchase() -> Response[str]:
    event = app.current_event
    purchase = _purchase_from_body()
    caller = _caller()
    key = api.header(event, "Idempotency-Key")
    try:
        if key is None:
            accepted = commands().create(purchase, api.request_id(event), caller)
        else:
            accepted = _create_once(caller, key, purchase, api.request_id(event))
    except InvalidIdempotencyKey as invalid:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, str(invalid)) from None
    except (IdempotencyValidationError, IdempotencyKeyReused):
        # The same answer whether the key's record still holds the first purchase or has expired and the
        # purchase itself was compared: either way nothing is queued.
        raise api.ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, KEY_REUSED_MESSAGE) from None
    except IdempotencyAlreadyInProgressError:
        raise api.ApiError(
            HTTPStatus.CONFLICT, "A request with this Idempotency-Key is still being processed; retry shortly"
        ) from None
    return _accepted("create", accepted, {"Location": f"product-purchase/{accepted.purchase_id}"})


def _create_once(caller: Caller, key: str, purchase: Purchase, correlation_id: str) -> Accepted:
    """The create, run at most once per (client, key): a retry gets the first answer back from the record.

    A create that raises leaves no record (Powertools deletes it), so a refused reuse can be retried with the
    right purchase."""

    def create(request: dict[str, Any]) -> dict[str, str | None]:
        accepted = commands().create(purchase, correlation_id, caller, key)
        return {"purchase_id": accepted.purchase_id, "message_id": accepted.message_id}

    once = idempotent_function(
        create,
        data_keyword_argument="request",
        persistence_store=idempotency_records(),
        config=idempotency,
        key_prefix=KEY_PREFIX,
    )
    answer = once(request=idempotent_request(caller.client_id, key, purchase))
    return Accepted(purchase_id=answer["purchase_id"], message_id=answer["message_id"])


@app.put(api.ITEM_PATH)
def replace_purchase(purchase_id: str) -> Response[str]:
    canonical_id = _purchase_id(purchase_id)
    purchase = _purchase_from_body()
    try:
        accepted = commands().replace(canonical_id, purchase, api.request_id(app.current_event), _caller())
    except PurchaseNotFound:
        raise api.ApiError(HTTPStatus.NOT_FOUND, "Purchase not found") from None
    return _accepted("update", accepted)


@app.delete(api.ITEM_PATH)
def delete_purchase(purchase_id: str) -> Response[str]:
    canonical_id = _purchase_id(purchase_id)
    try:
        accepted = commands().delete(canonical_id, api.request_id(app.current_event), _caller())
    except PurchaseNotFound:
        raise api.ApiError(HTTPStatus.NOT_FOUND, "Purchase not found") from None
    return _accepted("delete", accepted)


def _purchase_id(raw: str) -> str:
    purchase_id = parse_purchase_id(raw)
    if purchase_id is None:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "ProductPurchaseId must be a UUID")
    return purchase_id


def _caller() -> Caller:
    """The calling client; the API's authorizer guarantees one, so its absence is refused, never guessed."""
    return api.require_caller(app.current_event, logger)


def _purchase_from_body() -> Purchase:
    document = api.read_json_body(app.current_event)
    try:
        return parse_purchase(document)
    except InvalidPurchase as invalid:
        raise api.ApiError(HTTPStatus.BAD_REQUEST, "Invalid purchase", invalid.errors) from None


def _accepted(action: str, accepted: Accepted, headers: dict[str, str] | None = None) -> Response[str]:
    # When API Gateway received the request: where a write's journey starts (`invoke trace`).
    received_ms = app.current_event.request_context.request_time_epoch
    logger.info(
        "Purchase write accepted",
        extra={
            "action": action,
            "purchase_id": accepted.purchase_id,
            "message_id": accepted.message_id,
            "request_time_epoch": received_ms,
        },
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
    # A record left INPROGRESS by an invocation that died expires with the invocation's own deadline.
    idempotency.register_lambda_context(context)
    response = api.handle(app, event, context, logger)
    status = response["statusCode"]
    if status == HTTPStatus.ACCEPTED:
        count(metrics, PURCHASE_ACCEPTED)
    elif HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
        count(metrics, PURCHASE_REJECTED)
    return response


build_during_init(table, sqs_client, kms_client)
