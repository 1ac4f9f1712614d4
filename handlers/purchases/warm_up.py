"""The warm-up invocation: after deploying to a local engine, the tooling invokes the sender and the writer once
with this event, so their first real request finds a worker that has imported its code and built its clients.

A function answers it at once and does nothing else: no validation, no AWS call, no write. API Gateway and SQS
never send an event of this shape (a single key), so no real request can be mistaken for it.
"""

from __future__ import annotations

from typing import Any, Final

WARM_UP_EVENT: Final = {"devkitWarmUp": True}
WARM_UP_REPLY: Final = {"warm": True}


def is_warm_up(event: Any) -> bool:
    return isinstance(event, dict) and event == WARM_UP_EVENT
