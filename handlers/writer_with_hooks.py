"""The writer as test stages run it: the production writer (`writer`) with the hooks only tests use, selected by
the template (Handler) when a stage sets WriterFaultRate, WriterCrashRate or WriterSlowMarker, which prod refuses.

- Fault injection (`purchases.faults`): records fail, and batches crash, at the configured rates; the e2e suite's
  slow record stalls and fails on its first delivery.
- The tooling's warm-up messages (`purchases.warm_up`) are dropped before the batch is processed: the local
  engines' `invoke up` puts one on the queue to bring a worker up, and only this entry point acknowledges it.

Everything else is the production writer's: its record handler, batch processor, logger and metrics.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

import writer
from purchases.adapters.clients import WRITER_CALLS
from purchases.config import WriterHooksConfig
from purchases.faults import FaultInjector, InjectedFault
from purchases.messages import MalformedMessage, decode_message
from purchases.warm_up import without_warm_ups

hooks = WriterHooksConfig.from_environ()
faults = FaultInjector(
    fault_rate=hooks.fault_rate,
    crash_rate=hooks.crash_rate,
    slow_marker=hooks.slow_marker,
    stall_seconds=WRITER_CALLS.worst_case_seconds,
)


def _correlation_id(record: SQSRecord) -> str:
    try:
        return decode_message(record.body).correlation_id
    except MalformedMessage:
        return ""  # the production writer refuses it


def apply_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """The production writer's record handler, after the faults drawn for this record."""
    writer.start_record(record, lambda_context)
    try:
        try:
            faults.before_record()
            faults.stall_if_slow(_correlation_id(record), int(record.attributes.approximate_receive_count))
        except InjectedFault as injected:
            writer.refused(injected)
            raise
        writer.apply_record(record, lambda_context)
    finally:
        faults.after_record()


@writer.logger.inject_lambda_context(clear_state=True)
@writer.tracer.capture_lambda_handler(capture_response=False)
@writer.metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = without_warm_ups(event)
    if not batch["Records"]:
        # Only warm-ups: nothing to process (Powertools refuses an empty batch).
        return {"batchItemFailures": []}
    faults.begin_batch(len(batch["Records"]))
    return process_partial_response(
        event=batch, record_handler=apply_record, processor=writer.processor, context=context
    )
