"""SQS consumer: applies queued write messages to the table, reporting failed records one by one.

Only what the sender queued is applied: each record's body must carry the sender's MAC (`purchases.signing`),
verified with KMS before the body is even parsed. A record that fails verification is never applied: it is
counted (PurchaseWriteUnverified, watched by an alarm) and reported failed like any record that cannot be applied,
so the queue's redrive policy moves it, unchanged and with its receive count, to the dead-letter queue. (Not sent
there by the writer itself: that would need a second path to the DLQ, and a window in which a message is in
neither queue.)

A record that cannot be applied fails alone (partial batch response) and returns to the queue,
reaching the dead-letter queue after the redrive policy's receive count; the rest of the batch is
acknowledged. Applying is idempotent and order-proof (see `purchases.ordering`), so redeliveries,
duplicates and reordering are harmless.

The writer never times out on a batch: a timed-out invocation fails every record of it, applied or not.
A record is started only while the invocation has time left for the longest its verification and its table write
may take (WRITER_CALLS, the clients' timeouts) plus the batch report; the records it cannot start are reported as
failures, untouched, for the queue to deliver again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.clients import WRITER_CALLS
from purchases.adapters.dynamodb import DynamoDbPurchaseStore, lazy_table
from purchases.adapters.kms import KmsMessageAuthenticator, lazy_kms_client
from purchases.config import WriterConfig
from purchases.lazy import Lazy, build_during_init
from purchases.messages import MalformedMessage, decode_message
from purchases.observability import (
    PURCHASE_WRITE_FAILED,
    PURCHASE_WRITE_SUPERSEDED,
    PURCHASE_WRITE_UNVERIFIED,
    PURCHASE_WRITTEN,
    build_logger,
    build_metrics,
    build_tracer,
    count,
)
from purchases.ports import MessageVerifier, PurchaseStore, WriteOutcome
from purchases.signing import UnverifiedMessage, record_mac

logger = build_logger()
tracer = build_tracer()
metrics = build_metrics()
config = WriterConfig.from_environ()

# A record makes two AWS calls: VerifyMac, then one conditional PutItem.
AWS_CALLS_PER_RECORD = 2
# What must be left of the invocation to start a record: its calls at worst, and time to report.
REPORT_SECONDS = 0.25
RECORD_RESERVE_MS = int((AWS_CALLS_PER_RECORD * WRITER_CALLS.worst_case_seconds + REPORT_SECONDS) * 1000)

table = lazy_table(config.table_name, WRITER_CALLS)
kms_client = lazy_kms_client(WRITER_CALLS)
store: Lazy[PurchaseStore] = Lazy(lambda: DynamoDbPurchaseStore(table))
verifier: Lazy[MessageVerifier] = Lazy(lambda: KmsMessageAuthenticator(config.signing_key_id, kms_client))
# Reporting every record of an all-failed batch (instead of raising) keeps one poison message
# in a batch of one from looking like a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class OutOfTime(RuntimeError):
    """The record was not started: too little of the invocation was left to finish it."""


def start_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Begin a record's log context; OutOfTime when the invocation has too little time left to finish it."""
    logger.set_correlation_id(None)
    logger.append_keys(sqs_message_id=record.message_id, client_id=None)
    if lambda_context.get_remaining_time_in_millis() < RECORD_RESERVE_MS:
        # Not counted as a failed write: nothing was tried, and the queue hands it to the next invocation.
        logger.warning("Record left for redelivery: too little time left in this invocation")
        raise OutOfTime(f"less than {RECORD_RESERVE_MS} ms left")


def refused(reason: Exception) -> None:
    """Count and log a write message that is not applied (the record then fails)."""
    count(metrics, PURCHASE_WRITE_FAILED)
    logger.warning("Write message not applied", extra={"reason": str(reason)})


def verified_body(record: SQSRecord) -> str:
    """The record's body, once its MAC proved the sender queued exactly it; raises `UnverifiedMessage`."""
    body = record.body
    if not verifier().verify(body, record_mac(record.raw_event.get("messageAttributes"))):
        raise UnverifiedMessage("message MAC does not match its body")
    return body


def apply_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    start_record(record, lambda_context)
    try:
        message = decode_message(verified_body(record))
        logger.set_correlation_id(message.correlation_id)
        logger.append_keys(client_id=message.client_id)
        outcome = store().apply_write(message)
    except UnverifiedMessage as unverified:
        # Forged, altered, or queued by something other than the sender: the DLQ keeps it for a look.
        count(metrics, PURCHASE_WRITE_UNVERIFIED)
        refused(unverified)
        raise
    except MalformedMessage as malformed:
        refused(malformed)
        raise
    except Exception:
        count(metrics, PURCHASE_WRITE_FAILED)
        logger.exception("Write message failed")
        raise

    written = outcome is WriteOutcome.APPLIED
    count(metrics, PURCHASE_WRITTEN if written else PURCHASE_WRITE_SUPERSEDED)
    logger.info(
        "Write message applied" if written else "Write message superseded; nothing to change",
        extra={"action": message.action.value, "purchase_id": message.purchase_id, "stamp": message.stamp},
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=apply_record, processor=processor, context=context
    )


build_during_init(table, kms_client)
