"""How long an AWS call may take: connect and read timeouts and a bounded number of attempts per call.

Every handler builds its boto3 clients with one of these budgets, so no call can outlast the function (the
template unit test checks each function's timeout against its budget). botocore's defaults (60 s read
timeout, retries with growing back-off) would let one slow call take the whole invocation: the API would
answer 502/504 to a write that may still have been queued, and a client retrying it would create a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from botocore.config import Config

# botocore's standard retry mode waits at most rand(0, 1) x min(2**k, 20) s before retry k + 1 (the throttling
# scale; other errors wait a fraction of that).
_MAX_BACKOFF_SECONDS: Final = 20.0


@dataclass(frozen=True, slots=True)
class CallBudget:
    connect_timeout: float
    read_timeout: float
    # Attempts in all, the first included.
    max_attempts: int

    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
        )

    @property
    def worst_case_seconds(self) -> float:
        """The longest one call can take: every attempt timing out, with the longest back-off between."""
        attempts = self.max_attempts * (self.connect_timeout + self.read_timeout)
        backoff = sum(min(2.0**retry, _MAX_BACKOFF_SECONDS) for retry in range(self.max_attempts - 1))
        return attempts + backoff


# Sender and reader: one retry. A retried SendMessage can queue the same message twice, but it is the same
# message (same id, same stamp), and the writer's conditional writes make the second one a no-op; what must
# not happen is the function timing out after a send succeeded, because the client's retry is a new request
# with a new id. DynamoDB and SQS answer in milliseconds; a second wasted here still leaves the answer in time.
API_CALLS: Final = CallBudget(connect_timeout=0.5, read_timeout=1.0, max_attempts=2)

# Writer: no SDK retry. Its retry is the queue's redelivery of the failed record (idempotent, ordered), which
# costs the batch nothing; an SDK retry would spend the batch's time on one record.
WRITER_CALLS: Final = CallBudget(connect_timeout=0.25, read_timeout=0.75, max_attempts=1)
