"""The warm-up: after deploying to a local engine, the tooling invokes the sender once with this event, and puts
one message with this body on the queue for the writer, so their first real request finds a worker that has
imported its code and built its clients. (The writer is warmed through the queue because the engine keeps workers
per qualifier, and only the queue's own path is sure to reach the worker its event source mapping uses.)

A function answers it at once and does nothing else: no validation, no AWS call, no write; the writer acknowledges
the message. API Gateway never sends an event of this shape (a single key), and the sender never queues this body
(every write message carries an action, an id and a stamp), so no real request or write can be mistaken for it.
"""

from __future__ import annotations

import json
from typing import Any, Final

WARM_UP_EVENT: Final = {"devkitWarmUp": True}
WARM_UP_REPLY: Final = {"warm": True}


def is_warm_up(event: Any) -> bool:
    return isinstance(event, dict) and event == WARM_UP_EVENT


def is_warm_up_body(body: str) -> bool:
    """A queued message that is the warm-up, not a write."""
    try:
        return is_warm_up(json.loads(body))
    except ValueError:
        return False
