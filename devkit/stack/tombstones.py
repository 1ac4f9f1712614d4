"""Tombstones in bulk, straight into a stack's table: what thousands of create+delete pairs leave behind.

Deleted purchases stay in the table as tombstones for 30 days, and anyone can make them through the API. The
end-to-end suite and `invoke bench-list` put many of them in place with boto3's batch writer (25 items a call,
unprocessed items retried) in seconds instead of hours of API traffic, and take them out again afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from devkit.engines import Engine

# The writer's tombstone (purchases/adapters/dynamodb.py): the id, the flag, the stamp and the TTL, and nothing
# else, so not in the live-purchases index.
_LIFETIME_SECONDS: Final = 30 * 24 * 60 * 60


def _table(engine: Engine, table_name: str) -> Any:
    return engine.session().resource("dynamodb", endpoint_url=engine.endpoint_url()).Table(table_name)


def seed_tombstones(engine: Engine, table_name: str, count: int) -> list[str]:
    """Put `count` tombstones with fresh ids in the table; returns their ids."""
    stamp = time.time_ns()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with _table(engine, table_name).batch_writer() as batch:
        for purchase_id in ids:
            batch.put_item(
                Item={
                    "ProductPurchaseId": purchase_id,
                    "Deleted": True,
                    "Version": stamp,
                    "ExpiresAt": stamp // 1_000_000_000 + _LIFETIME_SECONDS,
                }
            )
    return ids


def remove_items(
    engine: Engine, table_name: str, ids: list[str], progress: Callable[[str], None] = print
) -> None:
    """Delete these items (the tombstones seeded above, or a benchmark's purchases); boto3's BatchWriter groups the
    deletes by 25 and resends what DynamoDB left unprocessed."""
    with _table(engine, table_name).batch_writer() as batch:
        for purchase_id in ids:
            batch.delete_item(Key={"ProductPurchaseId": purchase_id})
    progress(f"Removed {len(ids)} item(s) from {table_name}.")
