"""DynamoDB stream consumer: turns each applied purchase change into one message and pushes each to the
connections allowed to see it (`purchases.notifications.fan_out`): the purchase owner's and the admins'.

No partial batch response (MiniStack ignores one on stream sources): every client's failure is handled here
(gone -> forgotten, expired token or removed client -> closed, failing -> skipped). The batch fails as a whole
when the connections cannot be read or the invocation ran out of time before every push was made; the event
source then retries it, halved (BisectBatchOnFunctionError), and sends what it gives up on to the failure queue.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.connections import (
    ApiGatewayPusher,
    CognitoClientDirectory,
    DynamoDbConnectionStore,
    lazy_cognito_client,
    lazy_connection_table,
    lazy_management_client,
)
from purchases.changes import encode_notification, notification, owner, version
from purchases.config import CLIENT_LISTING_MAX_AGE_SECONDS, NOTIFIER_RESERVE_SECONDS, NotifierConfig
from purchases.lazy import Lazy, build_during_init
from purchases.notifications import Change, ClientRoster, ConnectionStore, Pusher, PushOutcome, fan_out
from purchases.observability import build_logger, build_metrics, build_tracer, count
from purchases.schema import ID_FIELD

NOTIFICATION_PUSHED = "NotificationPushed"
NOTIFICATION_PUSH_FAILED = "NotificationPushFailed"
CONNECTION_CLOSED = "NotificationConnectionClosed"

logger = build_logger()
tracer = build_tracer()
metrics = build_metrics()
config = NotifierConfig.from_environ()

connection_table = lazy_connection_table(config.connection_table)
lease_table = lazy_connection_table(config.lease_table)
management_client = lazy_management_client(config.management_endpoint)
cognito_client = lazy_cognito_client()
store: Lazy[ConnectionStore] = Lazy(lambda: DynamoDbConnectionStore(connection_table, lease_table))
pusher: Lazy[Pusher] = Lazy(lambda: ApiGatewayPusher(management_client))
# Kept across invocations: one listing of the pool serves every batch for CLIENT_LISTING_MAX_AGE_SECONDS.
clients: Lazy[ClientRoster] = Lazy(
    lambda: ClientRoster(
        CognitoClientDirectory(cognito_client, config.user_pool_id), max_age=CLIENT_LISTING_MAX_AGE_SECONDS
    )
)


class UnfinishedBatch(RuntimeError):
    """The invocation ran out of time before every connection had its messages: the batch is retried."""


def changes_of(event: dict[str, Any]) -> list[Change]:
    changes = []
    for record in DynamoDBStreamEvent(event).records:
        change = record.dynamodb
        if change is None:
            continue
        old, new = change.old_image or None, change.new_image or None
        message = notification(old, new)
        if message is not None:
            changes.append(Change(owner(old, new), encode_notification(message)))
            logger.info(
                "Change to notify",
                extra={
                    "purchase_id": message[ID_FIELD],
                    "stamp": version(old, new),
                    "change": message["type"],
                },
            )
    return changes


class LoggedPusher:
    """Logs every push with its purchase, connection, outcome and duration, so a write's journey shows each
    WebSocket push (`invoke trace`); the write's stamp is on the change's own line, in the same invocation."""

    def __init__(self, pusher: Pusher) -> None:
        self._pusher = pusher

    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        started = time.perf_counter()
        outcome = self._pusher.push(connection_id, data)
        logger.info(
            "Change pushed",
            extra={
                "purchase_id": json.loads(data).get(ID_FIELD),
                "connection_id": connection_id,
                "outcome": outcome.value,
                "push_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return outcome

    def disconnect(self, connection_id: str) -> None:
        self._pusher.disconnect(connection_id)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    changes = changes_of(event)
    report = fan_out(
        changes,
        store(),
        LoggedPusher(pusher()),
        clients(),
        now=time.time(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        reserve_seconds=NOTIFIER_RESERVE_SECONDS,
    )
    for _ in range(report.delivered):
        count(metrics, NOTIFICATION_PUSHED)
    for _ in report.failed:
        count(metrics, NOTIFICATION_PUSH_FAILED)
    for _ in [*report.expired, *report.removed]:
        count(metrics, CONNECTION_CLOSED)
    summary = {
        "records": len(event.get("Records") or []),
        "messages": len(changes),
        "connections": report.connections,
        "recipients": report.recipients,
        "gone": len(report.gone),
        "failed": len(report.failed),
        "expired": len(report.expired),
        "removed": len(report.removed),
        "unfinished": len(report.unfinished),
    }
    if report.unfinished:
        logger.warning("Out of time before every push", extra=summary)
        raise UnfinishedBatch(f"{len(report.unfinished)} connections not served before the time ran out")
    logger.info("Changes pushed", extra=summary)


build_during_init(connection_table, lease_table, management_client, cognito_client)
