"""What the end-to-end tests share: an HTTP client for the API, the stack's AWS resources, and polling helpers.

Everything here is black-box: HTTP to the API and AWS API calls to the engine, with the addresses taken from
`invoke outputs --json`. Waiting is always polling with a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import pytest
from boto3.dynamodb.types import TypeDeserializer

from devkit.core.http import Reply, call
from devkit.core.waiting import wait_for
from devkit.engines import Engine
from devkit.stack import queues
from devkit.stack.signed_writes import SenderRole

T = TypeVar("T")

# How long an accepted write may take to become readable, or the queue to drain.
WRITE_DEADLINE = 20.0
POLL_INTERVAL = 0.05
BOOKKEEPING_FIELDS = frozenset(
    {"Version", "Deleted", "ExpiresAt", "ClientId", "action", "stamp", "correlationId", "clientId"}
)
# `Api.send(..., authorization=DEVELOPMENT_TOKEN)`: the default, the development client's bearer token.
DEVELOPMENT_TOKEN = "development token"
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def eventually(probe: Callable[[], T | None], what: str, timeout: float = WRITE_DEADLINE) -> T:
    return wait_for(probe, timeout=timeout, interval=POLL_INTERVAL, what=what)


def run_task(outputs: dict[str, Any], task: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`invoke TASK ARGUMENTS --target ENGINE --stage STAGE` as a user runs it, on the engine and stage the outputs
    describe. A private engine (`invoke test`'s: the outputs name its folder, EngineStateDir) is found the way any
    second engine run from the same checkout is: PURCHASE_LOCAL_DIR names the folder that holds it; otherwise the
    task finds the engine `invoke up` started (on whatever port it recorded)."""
    env = dict(os.environ)
    if folder := outputs.get("EngineStateDir"):
        state_dir = Path(str(folder))
        assert state_dir.name == outputs["Engine"], (
            f"EngineStateDir {state_dir} is not a {outputs['Engine']} folder a task can be pointed at"
        )
        env["PURCHASE_LOCAL_DIR"] = str(state_dir.parent)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            task,
            *arguments,
            "--target",
            str(outputs["Engine"]),
            "--stage",
            str(outputs["Stage"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def unique_token() -> str:
    return uuid.uuid4().hex[:16]


def make_purchase(token: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid purchase whose text fields carry `token`, so this run's records are recognizable; numbers as
    strings, as the original samples send them."""
    token = token or unique_token()
    purchase: dict[str, Any] = {
        "ProductId": f"e2e-product-{token}",
        "ProductName": "Belt",
        "ProductDescription": f"A durable leather belt ({token}).",
        "Category": "Accessories",
        "PricePerUnit": "10.5",
        "Quantity": "2",
        "TotalPrice": "21",
        "CustomerId": f"e2e-customer-{token}",
        "CustomerName": f"E2E Customer {token}",
        "TimeOfPurchase": "2021-01-31T16:23:42.389Z",
    }
    purchase.update(overrides)
    return {name: value for name, value in purchase.items() if value is not None}


def no_credentials() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Api:
    """The purchase API at `base_url` (the `ProductPurchaseApi` output, ending in `/product-purchase/`).

    Every request carries `credentials()` (the `api` fixture: the development client's bearer token, renewed
    before it expires); `send` chooses the Authorization header explicitly, or leaves it out.
    """

    base_url: str
    credentials: Callable[[], dict[str, str]] = no_credentials

    def send(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        authorization: str | None = DEVELOPMENT_TOKEN,
    ) -> Reply:
        """One request to `url` with `headers`; `authorization` is the whole Authorization header value
        (e.g. "Bearer <token>"), None for no header at all, or DEVELOPMENT_TOKEN for the default credentials."""
        if authorization == DEVELOPMENT_TOKEN:
            auth = self.credentials()
        else:
            auth = {} if authorization is None else {"Authorization": authorization}
        return call(method, url, body, headers={**auth, **(headers or {})})

    def client_id(self) -> str:
        """The app client the credentials belong to (the access token's `client_id` claim, read unverified)."""
        from .auth_tokens import claims  # imported here: auth_tokens builds on this module

        client_id: str = claims(self.credentials()["Authorization"].split(" ", 1)[1])["client_id"]
        return client_id

    @property
    def collection_url(self) -> str:
        return self.base_url.rstrip("/")

    def item_url(self, purchase_id: str) -> str:
        return f"{self.collection_url}/{purchase_id}"

    def create(self, body: Any, *, headers: dict[str, str] | None = None) -> Reply:
        return self.send("POST", self.collection_url, body, headers=headers)

    def get(self, purchase_id: str) -> Reply:
        return self.send("GET", self.item_url(purchase_id))

    def replace(self, purchase_id: str, body: Any) -> Reply:
        return self.send("PUT", self.item_url(purchase_id), body)

    def delete(self, purchase_id: str) -> Reply:
        return self.send("DELETE", self.item_url(purchase_id))

    def list_page(self, query: str = "") -> Reply:
        return self.send("GET", f"{self.collection_url}{'?' + query if query else ''}")

    def follow(self, link_target: str) -> Reply:
        return self.send("GET", urljoin(self.collection_url, link_target))

    def pages(self, limit: int) -> Iterator[Reply]:
        """Every page of the list, following `Link: rel="next"` until it is absent."""
        reply = self.list_page(f"limit={limit}")
        while True:
            assert reply.status == 200, f"listing failed with {reply.status}: {reply.body[:300]!r}"
            yield reply
            target = next_link(reply)
            if target is None:
                return
            reply = self.follow(target)

    def all_ids(self, limit: int = 100) -> list[str]:
        return [item["ProductPurchaseId"] for page in self.pages(limit) for item in page.json()]

    def accept(self, body: Any, *, headers: dict[str, str] | None = None) -> str:
        """POST `body`, insist on 202, and return the new id."""
        reply = self.create(body, headers=headers)
        assert reply.status == 202, f"create refused ({reply.status}): {reply.body[:300]!r}"
        purchase_id: str = reply.json()["ProductPurchaseId"]
        return purchase_id

    def readable(self, purchase_id: str, *, timeout: float = WRITE_DEADLINE) -> dict[str, Any]:
        """Wait until GET returns the purchase; returns it."""

        def probe() -> dict[str, Any] | None:
            reply = self.get(purchase_id)
            if reply.status != 200:
                return None
            body: dict[str, Any] = reply.json()
            return body

        return eventually(probe, f"purchase {purchase_id} to be readable", timeout)

    def reads_as(
        self, purchase_id: str, check: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            reply = self.get(purchase_id)
            if reply.status != 200:
                return None
            body: dict[str, Any] = reply.json()
            return body if check(body) else None

        return eventually(probe, what)

    def gone(self, purchase_id: str) -> Reply:
        def probe() -> Reply | None:
            reply = self.get(purchase_id)
            return reply if reply.status == 404 else None

        return eventually(probe, f"purchase {purchase_id} to be gone")

    def listed_when(self, settled: Callable[[list[str]], bool], what: str) -> list[str]:
        """Every listed id, once `settled(ids)` holds: the list is read from an index, which on AWS may lag a
        write that reads already show by a moment."""

        def probe() -> list[str] | None:
            ids = self.all_ids()
            return ids if settled(ids) else None

        return eventually(probe, what)

    def create_readable(self, token: str | None = None, **overrides: Any) -> tuple[str, dict[str, Any]]:
        body = make_purchase(token, **overrides)
        purchase_id = self.accept(body)
        self.readable(purchase_id)
        return purchase_id, body


def next_link(reply: Reply) -> str | None:
    header = reply.headers.get("link")
    if not header:
        return None
    match = _LINK_NEXT.search(header)
    return match.group(1) if match else None


def as_numbers(purchase: dict[str, Any]) -> dict[str, Any]:
    """A sent purchase as the API returns it: numeric strings as numbers (exact decimals, compared by value)."""
    numeric = {"PricePerUnit", "Quantity", "TotalPrice"}
    return {name: Decimal(str(value)) if name in numeric else value for name, value in purchase.items()}


def same_purchase(returned: dict[str, Any], sent: dict[str, Any]) -> bool:
    fields = {name: value for name, value in returned.items() if name != "ProductPurchaseId"}
    normalized = {
        name: Decimal(str(value)) if isinstance(value, int | float) else value
        for name, value in fields.items()
    }
    return normalized == as_numbers(sent)


class Stack:
    """The stack's queue, dead-letter queue and table, reached with the engine's own (root) credentials."""

    def __init__(self, outputs: dict[str, Any], client: Callable[[str], Any], engine: Engine) -> None:
        self.queue_url: str = outputs["QueueUrl"]
        self.dlq_url: str = outputs["DeadLetterQueueUrl"]
        self.table_name: str = outputs["TableName"]
        self.idempotency_table_name: str = outputs.get("IdempotencyTableName", "")
        self.sqs = client("sqs")
        self.dynamodb = client("dynamodb")
        self._outputs = outputs
        self._engine = engine
        self._sender: SenderRole | None = None

    def queue_depth(self, url: str | None = None) -> int:
        """Messages waiting, in flight and delayed."""
        return queues.depth(self.sqs, url or self.queue_url)

    def visibility_timeout(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
        )
        return int(attributes["Attributes"]["VisibilityTimeout"])

    def wait_queue_empty(
        self, timeout: float = WRITE_DEADLINE, what: str = "the purchase queue to empty"
    ) -> None:
        eventually(lambda: self.queue_depth() == 0, what, timeout)

    def raw_item(self, purchase_id: str) -> dict[str, Any] | None:
        """The table item as stored, bookkeeping included (None when there is none)."""
        item = self.dynamodb.get_item(
            TableName=self.table_name, Key={"ProductPurchaseId": {"S": purchase_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else deserialize(item)

    def queue_writes(self, bodies: list[str]) -> list[str]:
        """Put `bodies` on the queue in this order, one after the other, signed as the sender signs them and sent by
        the sender's role (the writer applies nothing else, the queue admits no one else); returns their message
        ids."""
        return self.sender().send(self.queue_url, bodies)

    def sender(self) -> SenderRole:
        """The sender's role, to queue and sign as it (`devkit.stack.signed_writes`); skips the test on AWS."""
        if self._engine.name == "aws":
            pytest.skip(
                "On AWS only the sender function may queue and sign writes; this test runs on local engines."
            )
        if self._sender is None:
            self._sender = SenderRole(self._engine, self._outputs)
        return self._sender

    def put_in_dlq(self, body: str) -> str:
        """A write `body` with the sender's MAC, put straight into the DLQ, as if it had been dead-lettered (the
        engine's root credentials: no policy guards the DLQ, and the sender's role may not send there)."""
        reply = self.sqs.send_message(
            QueueUrl=self.dlq_url, MessageBody=body, MessageAttributes=self.sender().attributes(body)
        )
        message_id: str = reply["MessageId"]
        return message_id

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ right now; they stay there and are visible again afterwards."""
        return queues.peek(self.sqs, self.dlq_url)

    def remove_dead_letters(self, is_ours: Callable[[str], bool]) -> int:
        """Delete the DLQ messages whose body `is_ours` (this suite's), leaving any others alone."""
        return queues.delete_matching(self.sqs, self.dlq_url, is_ours)


_deserializer = TypeDeserializer()


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
