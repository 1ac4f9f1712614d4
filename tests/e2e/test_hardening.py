"""The service's bounds against the running stack: what the writer cannot store is refused at the API and queues nothing; a
slow record fails alone while the rest of its batch is applied once; listing stays bounded and complete with
10,000 tombstones in the table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.engines import Engine
from devkit.stack.tombstones import remove_items, seed_tombstones

from .messages import new_id, stamp_after, write_message
from .support import Api, Stack, eventually, make_purchase, next_link

TOMBSTONES = 10_000


def _with_raw(raw_fields: dict[str, str], **overrides: Any) -> bytes:
    """A valid purchase whose `raw_fields` are spelled as given (raw JSON text: numbers Python's json cannot write)."""
    body = make_purchase(**overrides, **dict.fromkeys(raw_fields))
    text = json.dumps(body)
    extra = "".join(f", {json.dumps(name)}: {raw}" for name, raw in raw_fields.items())
    return (text[:-1] + extra + "}").encode()


# Each got a 202 (or a 500) before: the writer refused it later, dead-lettered, or it was stored as is.
UNSTORABLE = [
    pytest.param(_with_raw({"PricePerUnit": "1e-1000030"}, TotalPrice=None), "PricePerUnit", id="underflow to 0"),
    pytest.param(_with_raw({"TotalPrice": "1e999999999"}), "TotalPrice", id="decimal overflow"),
    pytest.param(_with_raw({"TotalPrice": "1000000000000001"}), "TotalPrice", id="total above maximum"),
    pytest.param(_with_raw({"ProductName": '"\\ud800"'}), "ProductName", id="lone surrogate"),
    pytest.param(_with_raw({"CustomerName": '"Ada\\u0000"'}), "CustomerName", id="NUL"),
    pytest.param(_with_raw({"CustomerName": '"Eve\\u202egnp.exe"'}), "CustomerName", id="right-to-left override"),
    pytest.param(_with_raw({"ProductDescription": '"two\\nlines"'}), "ProductDescription", id="control character"),
    pytest.param(_with_raw({"TimeOfPurchase": '"0001-01-01T00:00:00Z"'}), "TimeOfPurchase", id="year 0001"),
    pytest.param(_with_raw({"TimeOfPurchase": '"2099-01-01T00:00:00Z"'}), "TimeOfPurchase", id="far future"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), UNSTORABLE)
def test_what_the_writer_cannot_store_is_refused_with_field_errors(api: Api, body: bytes, field: str) -> None:
    # Given a body the writer (or DynamoDB) could never apply
    # When it is posted
    reply = api.create(body)
    # Then the API answers 400 naming the field
    assert reply.status == 400, f"{reply.status}: {reply.body[:300]!r}"
    assert field in {error["field"] for error in reply.json()["errors"]}, reply.body[:500]


def test_unstorable_writes_queue_nothing(api: Api, quiet_queue: Stack) -> None:
    # Given an existing purchase and an empty queue
    purchase_id, _ = api.create_readable()
    before = api.get(purchase_id).json()

    # When every unstorable body is posted and put over the purchase
    statuses = [api.create(case.values[0]).status for case in UNSTORABLE]
    statuses += [api.replace(purchase_id, case.values[0]).status for case in UNSTORABLE]
    assert set(statuses) == {400}, statuses

    # And one valid write follows, which the writer applies after anything queued before it
    api.create_readable()

    # Then the queue empties well within a visibility timeout (a queued unstorable write would fail in the writer
    # and stay in flight for a whole visibility timeout), and the purchase is unchanged
    quiet_queue.wait_queue_empty(
        timeout=quiet_queue.visibility_timeout() / 2, what="the queue to hold nothing but applied writes"
    )
    assert api.get(purchase_id).json() == before


# --- a slow record -----------------------------------------------------------------------------


@pytest.fixture
def slow_marker(outputs: dict[str, Any], aws_client: Callable[[str], Any]) -> str:
    """The writer's test-only slow-record marker (set on local stages; never in prod)."""
    configuration = aws_client("lambda").get_function_configuration(
        FunctionName=outputs["WriterFunctionName"]
    )
    marker: str = configuration.get("Environment", {}).get("Variables", {}).get("WRITER_SLOW_MARKER", "")
    if not marker:
        pytest.skip(
            "this stage has no WriterSlowMarker (local stages set it; the template refuses it in prod)"
        )
    return marker


def test_a_slow_record_fails_alone_and_the_rest_of_its_batch_is_applied_once(
    api: Api, quiet_queue: Stack, slow_marker: str
) -> None:
    # Given six good creates and, in the middle of the same batch, one the writer treats as slow on first delivery
    owner = api.client_id()
    good = {new_id(): stamp_after(0) for _ in range(6)}
    slow_id, slow_stamp = new_id(), stamp_after(0)
    bodies = [
        write_message("create", purchase_id, stamp, make_purchase(), owner=owner)
        for purchase_id, stamp in good.items()
    ]
    slow = write_message(
        "create", slow_id, slow_stamp, make_purchase(), correlation_id=slow_marker, owner=owner
    )
    entries = [*bodies[:3], slow, *bodies[3:]]

    # When they are put on the queue together
    reply = quiet_queue.sqs.send_message_batch(
        QueueUrl=quiet_queue.queue_url,
        Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(entries)],
    )
    assert not reply.get("Failed"), reply["Failed"]

    # Then every good one is applied, at its own stamp, while the slow one is not yet
    for purchase_id, stamp in good.items():
        api.readable(purchase_id)
        item = quiet_queue.raw_item(purchase_id)
        assert item is not None and item["Version"] == stamp, item
    assert api.get(slow_id).status == 404
    # And the queue soon holds the slow one alone, waiting for its redelivery: no good one was failed with it (a
    # failed record stays in flight for a whole visibility timeout; an applied one leaves the queue as soon as its
    # invocation returns, a moment after it became readable)
    eventually(
        lambda: quiet_queue.queue_depth() == 1,
        "the queue to hold the slow record alone",
        timeout=quiet_queue.visibility_timeout() / 2,
    )

    # And on its redelivery the slow one is applied, and nothing is left behind or dead-lettered
    api.readable(slow_id, timeout=3 * quiet_queue.visibility_timeout())
    quiet_queue.wait_queue_empty(what="the slow record's redelivery to be acknowledged")
    dead_bodies = {message["Body"] for message in quiet_queue.dead_letters()}
    assert not dead_bodies & {slow, *bodies}
    ours = [*good, slow_id]
    api.listed_when(lambda ids: all(ids.count(purchase_id) == 1 for purchase_id in ours), "each listed once")


# --- listing with many tombstones --------------------------------------------------------------


@pytest.fixture
def tombstones(engine: Engine, stack: Stack) -> Iterator[set[str]]:
    """10,000 tombstones put straight into the table (as 5,000 create+delete pairs would leave), removed after."""
    ids = seed_tombstones(engine, stack.table_name, TOMBSTONES)
    try:
        yield set(ids)
    finally:
        remove_items(engine, stack.table_name, ids, progress=lambda _line: None)


def test_listing_with_10000_tombstones_answers_every_page_and_reaches_every_live_purchase_once(
    api: Api, tombstones: set[str]
) -> None:
    # Given a handful of live purchases among 10,000 tombstones
    live = {api.create_readable()[0] for _ in range(5)}
    # (listing is read from an index, which may lag the table by a moment on AWS)
    api.listed_when(lambda ids: live <= set(ids), "the new purchases to be listed")

    # When the whole list is followed, two at a time
    seen: Counter[str] = Counter()
    pages = 0
    reply = api.list_page("limit=2")
    while True:
        # Then every page answers 200 with at most the limit
        assert reply.status == 200, f"page {pages}: {reply.status} {reply.body[:200]!r}"
        items = reply.json()
        assert len(items) <= 2
        seen.update(item["ProductPurchaseId"] for item in items)
        pages += 1
        target = next_link(reply)
        if target is None:
            break
        reply = api.follow(target)

    # And the links reached every live purchase exactly once, and no tombstone
    assert all(seen[purchase_id] == 1 for purchase_id in live), {i: seen[i] for i in live}
    assert not set(seen) & tombstones
    assert max(seen.values()) == 1
