"""Poison messages and the dead-letter queue: a message the writer cannot apply fails alone, reaches the DLQ after
the redrive policy's receives, and a redriven message is processed again.

Runs last (see conftest): it waits for three receives of the poison message, one visibility timeout apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.engines import Engine
from devkit.stack import dlq

from .messages import new_id, stamp_after, write_message
from .support import Api, Stack, eventually, unique_token


def _max_receives(stack: Stack) -> int:
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])
    return int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])


# Marks this suite's poison messages, so a run can clear what an interrupted earlier run left in the DLQ.
POISON_PREFIX = "e2e poison: not a write message "


@pytest.fixture
def sent_to_dlq(stack: Stack) -> Iterator[set[str]]:
    """Bodies this test puts in flight towards (or straight into) the DLQ; removed from it afterwards, together
    with poison an interrupted earlier run left behind (a redrive would otherwise send it round again)."""
    bodies: set[str] = set()
    stack.remove_dead_letters(lambda body: body.startswith(POISON_PREFIX))
    yield bodies
    stack.remove_dead_letters(lambda body: body in bodies or body.startswith(POISON_PREFIX))


def test_a_poison_message_reaches_the_dlq_and_its_batch_is_written_once(
    api: Api, quiet_queue: Stack, sent_to_dlq: set[str], new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given good write messages and one that is not a write message at all, in the same batch
    owner = api.client_id()
    poison = f"{POISON_PREFIX}{unique_token()} {{"
    good = {new_id(): (stamp_after(0), new_purchase()) for _ in range(3)}
    bodies = [
        write_message("create", purchase_id, stamp, body, owner=owner)
        for purchase_id, (stamp, body) in good.items()
    ]
    sent_to_dlq.add(poison)
    entries = [*bodies[:2], poison, *bodies[2:], bodies[0]]  # the first one duplicated as well

    # When they are put straight on the queue
    reply = quiet_queue.sqs.send_message_batch(
        QueueUrl=quiet_queue.queue_url,
        Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(entries)],
    )
    assert not reply.get("Failed"), reply["Failed"]

    # Then the good ones are written, each once, at the stamp they carried
    for purchase_id, (stamp, _body) in good.items():
        api.readable(purchase_id)
        item = quiet_queue.raw_item(purchase_id)
        assert item is not None and item["Version"] == stamp, item
    listed = api.all_ids()
    assert all(listed.count(purchase_id) == 1 for purchase_id in good)

    # And the poison message ends in the DLQ after the redrive policy's receives, holding nobody up
    receives = _max_receives(quiet_queue)
    deadline = (receives + 1) * quiet_queue.visibility_timeout() + 15

    def poison_in_dlq() -> dict[str, Any] | None:
        return next((m for m in quiet_queue.dead_letters() if m["Body"] == poison), None)

    dead = eventually(poison_in_dlq, "the poison message to reach the DLQ", timeout=deadline)
    assert dead["Body"] == poison
    quiet_queue.wait_queue_empty(what="nothing else to be left in the queue")


def test_a_redriven_message_is_processed(
    api: Api,
    quiet_queue: Stack,
    engine: Engine,
    sent_to_dlq: set[str],
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a valid write message sitting in the DLQ (as one would after its cause was fixed)
    owner = api.client_id()
    purchase_id = new_id()
    body = write_message("create", purchase_id, stamp_after(0), new_purchase(), owner=owner)
    sent_to_dlq.add(body)
    quiet_queue.send(body, quiet_queue.dlq_url)
    assert api.get(purchase_id).status == 404

    # When the DLQ is redriven the way `invoke dlq --redrive` does it
    moved = dlq.redrive(engine, quiet_queue.dlq_url, quiet_queue.queue_url, progress=lambda _line: None)

    # Then the message went back to the queue and was applied: the purchase is readable
    assert moved >= 1
    api.readable(purchase_id)
    # And it left the DLQ
    assert all(message["Body"] != body for message in quiet_queue.dead_letters())
