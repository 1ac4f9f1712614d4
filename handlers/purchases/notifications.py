"""Fan-out of change messages to the connected clients, behind two small Protocols (no AWS code here).

Each connection gets the batch's messages in order, on its own worker: a slow or failing client costs only its
own worker, never another client's delivery. A client API Gateway reports gone is forgotten; one that fails
otherwise misses the rest of this batch (delivering later messages without the failed one would reorder them).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Protocol

# Pushes are network calls that mostly wait; more workers than this only add memory.
MAX_PUSH_WORKERS: Final = 16


class PushOutcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # the connection no longer exists (API Gateway's GoneException)
    FAILED = "failed"  # anything else: throttled, timed out, refused


class ConnectionStore(Protocol):
    def connection_ids(self) -> list[str]:
        """Every live connection; raises when they cannot be read (the batch is then retried)."""
        ...

    def remember(self, connection_id: str, principal: str, connected_at_ms: int) -> None: ...

    def forget(self, connection_id: str) -> None: ...


class Pusher(Protocol):
    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        """Send `data` to one connection; never raises."""
        ...


@dataclass(frozen=True, slots=True)
class FanOutReport:
    connections: int
    delivered: int  # messages delivered, summed over connections
    gone: list[str]
    failed: list[str]


def fan_out(messages: Sequence[bytes], store: ConnectionStore, pusher: Pusher) -> FanOutReport:
    """Deliver `messages`, in order, to every connection in `store`; forget the gone ones."""
    if not messages:
        return FanOutReport(0, 0, [], [])
    connection_ids = store.connection_ids()
    if not connection_ids:
        return FanOutReport(0, 0, [], [])

    def deliver(connection_id: str) -> tuple[str, int, PushOutcome]:
        delivered = 0
        for data in messages:
            outcome = pusher.push(connection_id, data)
            if outcome is not PushOutcome.DELIVERED:
                return connection_id, delivered, outcome
            delivered += 1
        return connection_id, delivered, PushOutcome.DELIVERED

    workers = min(MAX_PUSH_WORKERS, len(connection_ids))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
        results = list(pool.map(deliver, connection_ids))
    gone = [connection_id for connection_id, _, outcome in results if outcome is PushOutcome.GONE]
    failed = [connection_id for connection_id, _, outcome in results if outcome is PushOutcome.FAILED]
    for connection_id in gone:
        store.forget(connection_id)
    return FanOutReport(len(connection_ids), sum(count for _, count, _ in results), gone, failed)
