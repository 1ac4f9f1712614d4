"""The writer's warm-up: after deploying to a local engine, the tooling puts one message with this body on the
queue, so the first real write finds a worker that has imported its code and built its clients. (Through the queue
because the engine keeps workers per qualifier, and only the queue's own path is sure to reach the worker its event
source mapping uses.)

Only the test stages' entry point (`writer_with_hooks`) acknowledges it, by dropping it before the batch is
processed; the sender never queues this body (every write message carries an action, an id and a stamp), so no
real write can be mistaken for it.
"""

from __future__ import annotations

import json
from typing import Any, Final

_WARM_UP: Final = {"devkitWarmUp": True}
WARM_UP_BODY: Final = json.dumps(_WARM_UP)


def is_warm_up_body(body: str) -> bool:
    """A queued message that is the warm-up, not a write."""
    try:
        return bool(json.loads(body) == _WARM_UP)
    except ValueError:
        return False


def without_warm_ups(event: dict[str, Any]) -> dict[str, Any]:
    """The SQS event without its warm-up records; they count as processed (a partial batch response lists only
    failures), so the queue deletes them."""
    records = event.get("Records") or []
    return {**event, "Records": [record for record in records if not is_warm_up_body(record.get("body", ""))]}
