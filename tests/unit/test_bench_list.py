"""`invoke bench-list` and the tombstone seeding it shares with the end-to-end suite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from devkit.bench.listing import ListBenchReport, next_target
from devkit.bench.stats import Distribution
from devkit.stack.tombstones import remove_items, seed_tombstones
from purchases.adapters.dynamodb import LISTED, DynamoDbPurchaseStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class MotoEngine:
    """Just what the tombstone helpers use of an engine, on moto."""

    def session(self) -> boto3.Session:
        return boto3.Session(region_name="us-east-1")

    def endpoint_url(self) -> str | None:
        return None


def test_seeded_tombstones_look_like_the_writers_and_are_removed_again(
    mocked_aws: None, dynamodb_table: Table, dynamodb_store: DynamoDbPurchaseStore
) -> None:
    # When 60 tombstones are seeded
    ids = seed_tombstones(MotoEngine(), dynamodb_table.name, 60)  # type: ignore[arg-type]

    # Then each is a deleted purchase to the store, outside the list, and with a 30-day expiry
    assert len(set(ids)) == 60
    item: dict[str, Any] = dynamodb_table.get_item(Key={"ProductPurchaseId": ids[0]})["Item"]
    assert item["Deleted"] is True and LISTED not in item
    assert int(item["ExpiresAt"]) - int(item["Version"]) // 1_000_000_000 == 30 * 24 * 3600
    assert dynamodb_store.page(50, None).items == []
    stored = dynamodb_store.get(ids[-1])
    assert stored is not None and stored.deleted

    # And removing them leaves nothing
    remove_items(MotoEngine(), dynamodb_table.name, ids, progress=lambda _line: None)  # type: ignore[arg-type]
    assert dynamodb_table.scan(Select="COUNT")["Count"] == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<?limit=2&cursor=abc>; rel="next"', "http://h/dev/product-purchase?limit=2&cursor=abc"),
        (None, None),
        ('<?limit=2>; rel="prev"', None),
    ],
)
def test_next_links_resolve_against_the_collection_url(header: str | None, expected: str | None) -> None:
    assert next_target("http://h/dev/product-purchase", header) == expected


def test_the_report_gives_both_phases_and_their_ratio() -> None:
    report = ListBenchReport(
        requests=10,
        limit=50,
        tombstones=10_000,
        baseline=Distribution.of_seconds([0.010] * 10),
        with_tombstones=Distribution.of_seconds([0.012] * 10),
    )
    text = report.format()
    assert "+ 10,000 tombstones" in text
    assert "p50    10.0 ms" in text and "p50    12.0 ms" in text
    assert "1.20x" in text
