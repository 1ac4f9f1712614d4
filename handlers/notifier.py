"""DynamoDB stream consumer: turns each applied purchase change into one message and pushes the batch to every
connected WebSocket client (`purchases.notifications.fan_out`).

No partial batch response: every client's failure is handled here (gone -> forgotten, failing -> skipped), so a
batch fails only as a whole, when the connections cannot be read, and the event source retries it. (MiniStack
ignores partial batch responses on stream sources, so relying on one would lose changes there.)
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.connections import (
    ApiGatewayPusher,
    DynamoDbConnectionStore,
    lazy_connection_table,
    lazy_management_client,
)
from purchases.changes import encode_notification, notification
from purchases.config import NotifierConfig
from purchases.lazy import Lazy, build_during_init
from purchases.notifications import ConnectionStore, Pusher, fan_out
from purchases.observability import build_logger, build_metrics, build_tracer, count

NOTIFICATION_PUSHED = "NotificationPushed"
NOTIFICATION_PUSH_FAILED = "NotificationPushFailed"

logger = build_logger()
tracer = build_tracer()
metrics = build_metrics()
config = NotifierConfig.from_environ()

connection_table = lazy_connection_table(config.connection_table)
management_client = lazy_management_client(config.management_endpoint)
store: Lazy[ConnectionStore] = Lazy(lambda: DynamoDbConnectionStore(connection_table))
pusher: Lazy[Pusher] = Lazy(lambda: ApiGatewayPusher(management_client))


def messages_of(event: dict[str, Any]) -> list[bytes]:
    messages = []
    for record in DynamoDBStreamEvent(event).records:
        change = record.dynamodb
        if change is None:
            continue
        message = notification(change.old_image or None, change.new_image or None)
        if message is not None:
            messages.append(encode_notification(message))
    return messages


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    messages = messages_of(event)
    report = fan_out(messages, store(), pusher())
    for _ in range(report.delivered):
        count(metrics, NOTIFICATION_PUSHED)
    for _ in report.failed:
        count(metrics, NOTIFICATION_PUSH_FAILED)
    logger.info(
        "Changes pushed",
        extra={
            "records": len(event.get("Records") or []),
            "messages": len(messages),
            "connections": report.connections,
            "gone": len(report.gone),
            "failed": len(report.failed),
        },
    )


build_during_init(connection_table, management_client)
