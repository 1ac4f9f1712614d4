"""Runs every minute (an EventBridge schedule): closes the WebSocket connections whose token has expired (or
expires within the sweep's lead) and those of app clients removed from the user pool, so an idle connection ends
on time, not on the next change that reaches it (`purchases.notifications.sweep`).

One scan of the connection table and one listing of the pool per run. A run that cannot list the pool still
closes expired tokens and then fails, so the error shows (Errors metric, the log); the next run looks again.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.connections import (
    ApiGatewayPusher,
    CognitoClientDirectory,
    DynamoDbConnectionStore,
    lazy_cognito_client,
    lazy_connection_table,
    lazy_management_client,
)
from purchases.config import SWEEP_RESERVE_SECONDS, NotifierConfig
from purchases.lazy import Lazy, build_during_init
from purchases.notifications import ClientDirectory, ConnectionStore, Pusher, sweep
from purchases.observability import build_logger, build_metrics, build_tracer, count

SESSION_CLOSED = "SessionClosed"

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
directory: Lazy[ClientDirectory] = Lazy(lambda: CognitoClientDirectory(cognito_client, config.user_pool_id))


class PoolUnreadable(RuntimeError):
    """The user pool could not be listed: removed clients' connections were left for the next run."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    report = sweep(
        store(),
        pusher(),
        directory(),
        now=time.time(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        reserve_seconds=SWEEP_RESERVE_SECONDS,
    )
    for _ in [*report.expired, *report.removed]:
        count(metrics, SESSION_CLOSED)
    summary = {
        "connections": report.connections,
        "expired": len(report.expired),
        "removed": len(report.removed),
        "unfinished": report.unfinished,
    }
    if report.unfinished:
        logger.warning("Out of time before every connection was looked at", extra=summary)
    if report.clients_error:
        logger.error("The user pool could not be listed", extra={**summary, "error": report.clients_error})
        raise PoolUnreadable("the user pool could not be listed; removed clients are looked for next run")
    logger.info("Sessions swept", extra=summary)


build_during_init(connection_table, lease_table, management_client, cognito_client)
