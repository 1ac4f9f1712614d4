"""What the sender does with an accepted request: check, stamp, and queue a write message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from purchases.identifiers import new_purchase_id, purchase_id_for_idempotency_key
from purchases.messages import WriteAction, WriteMessage
from purchases.model import Purchase
from purchases.ports import PurchaseStore, RecordState, WriteQueue

Clock = Callable[[], int]
"""Nanoseconds since the epoch; the stamp that orders writes to one purchase."""


class PurchaseNotFound(LookupError):
    """There is no live purchase with that id (never created, or deleted)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    purchase_id: str
    # None when an idempotent retry found its purchase already stored and queued nothing.
    message_id: str | None


class PurchaseCommands:
    def __init__(
        self,
        store: PurchaseStore,
        queue: WriteQueue,
        clock: Clock = time.time_ns,
        new_id: Callable[[], str] = new_purchase_id,
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._new_id = new_id

    def create(
        self,
        purchase: Purchase,
        correlation_id: str,
        idempotency_key: str | None = None,
        client_id: str | None = None,
    ) -> Accepted:
        """Queue a create; raises `InvalidIdempotencyKey`."""
        if idempotency_key is None:
            purchase_id = self._new_id()
        else:
            purchase_id = purchase_id_for_idempotency_key(idempotency_key, client_id or "")
            # A tombstone counts: the key's purchase existed, and a new create would be refused.
            if self._store.state(purchase_id) is not RecordState.ABSENT:
                return Accepted(purchase_id=purchase_id, message_id=None)
        # A retry racing its first attempt (not stored yet) queues a second create; the writer's
        # create-if-absent makes that harmless.
        return self._enqueue(WriteAction.CREATE, purchase_id, purchase, correlation_id, client_id)

    def replace(
        self, purchase_id: str, purchase: Purchase, correlation_id: str, client_id: str | None = None
    ) -> Accepted:
        """Queue an update of a live purchase; raises `PurchaseNotFound`."""
        self._require_live(purchase_id)
        return self._enqueue(WriteAction.UPDATE, purchase_id, purchase, correlation_id, client_id)

    def delete(self, purchase_id: str, correlation_id: str, client_id: str | None = None) -> Accepted:
        """Queue the deletion of a live purchase; raises `PurchaseNotFound`."""
        self._require_live(purchase_id)
        return self._enqueue(WriteAction.DELETE, purchase_id, None, correlation_id, client_id)

    def _require_live(self, purchase_id: str) -> None:
        if self._store.state(purchase_id) is not RecordState.LIVE:
            raise PurchaseNotFound(purchase_id)

    def _enqueue(
        self,
        action: WriteAction,
        purchase_id: str,
        purchase: Purchase | None,
        correlation_id: str,
        client_id: str | None,
    ) -> Accepted:
        message = WriteMessage(
            action=action,
            purchase_id=purchase_id,
            purchase=purchase,
            stamp=self._clock(),
            correlation_id=correlation_id,
            client_id=client_id,
        )
        return Accepted(purchase_id=purchase_id, message_id=self._queue.enqueue_write(message))
