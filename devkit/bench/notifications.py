"""How fast a change reaches a connected client: accepted write (the API's 202) -> purchase.created received on
the WebSocket, one write at a time after a warm-up, so the figure is the pipeline's latency (queue, writer,
stream, notifier, push), not a queue under load. The POST round trip of the same run is the reference.

Measured twice in one run: with no other connection, and with `idle` idle connections of other clients (records
in the connection table, as the notifier sees connections, spread over a few app clients made for the run so the
sweep keeps them), in alternating rounds so that the machine's load drifting during the run weighs on both alike.
A batch reads only its owners' and the admins' connections, so the second figure must stay within
IDLE_RATIO_TARGET of the first.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from devkit.bench.load import purchase_body
from devkit.bench.stats import Distribution
from devkit.core.http import call
from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, READ_WRITE_SCOPES, access_token
from devkit.stack.consumers import create_consumer, remove_consumer
from devkit.stack.notifications import Listener, of_purchase, socket_url

WARMUP_WRITES = 10
NOTIFICATION_TIMEOUT = 30.0
DEFAULT_IDLE_CONNECTIONS = 1000
# The idle connections' app clients: as many as MaxConnectionsPerClient's ceiling would need is not the point (the
# records are written directly); a few owners make them other clients' connections, not one client's.
IDLE_CLIENTS = 4
# p95 with the idle connections, against p95 without: the target.
IDLE_RATIO_TARGET = 2.0
# Rounds of (alone, beside idle): the idle records are written before and deleted after each idle block.
ROUNDS = 4


@dataclass(frozen=True)
class Phase:
    post: Distribution  # POST -> 202
    notification: Distribution  # 202 -> purchase.created received


@dataclass(frozen=True)
class NotificationBench:
    writes: int
    alone: Phase
    idle_connections: int
    beside_idle: Phase | None

    @property
    def idle_ratio(self) -> float | None:
        """p95 beside the idle connections / p95 with none."""
        if self.beside_idle is None:
            return None
        alone, idle = self.alone.notification.p95, self.beside_idle.notification.p95
        return None if not alone or idle is None else idle / alone


def _timed_writes(
    engine: Engine, outputs: Mapping[str, Any], listener: Listener, writes: int, run_tag: str, first: int
) -> tuple[list[float], list[float], list[str]]:
    """POST -> 202 and 202 -> notification seconds of `writes` writes, one at a time, and the purchases made."""
    collection = str(outputs["ProductPurchaseApi"]).rstrip("/")
    created: list[str] = []
    post_seconds: list[float] = []
    lag_seconds: list[float] = []
    for index in range(first, first + writes):
        headers = {"Authorization": f"Bearer {access_token(engine, outputs, READ_WRITE_SCOPES)}"}
        sent = time.time()
        reply = call("POST", collection, purchase_body(run_tag, index), headers=headers)
        accepted = time.time()
        if reply.status != 202:
            raise ToolingError(f"The API refused a write ({reply.status}): {reply.body[:200]!r}")
        purchase_id = str(reply.json()["ProductPurchaseId"])
        created.append(purchase_id)
        try:
            listener.wait_for(
                lambda got, pid=purchase_id: bool(of_purchase(got, pid)),  # type: ignore[misc]
                timeout=NOTIFICATION_TIMEOUT,
                what=f"the notification of {purchase_id}",
            )
        except TimeoutError as error:
            raise ToolingError(str(error)) from None
        arrived = next(r.at for r in listener.received if r.message.get("ProductPurchaseId") == purchase_id)
        post_seconds.append(accepted - sent)
        lag_seconds.append(arrived - accepted)
    return post_seconds, lag_seconds, created


class IdleConnections:
    """`count` connection records of IDLE_CLIENTS app clients made for the run, valid for an hour, written and
    deleted on demand (BatchWriteItem, with the engine's credentials)."""

    def __init__(
        self, engine: Engine, outputs: Mapping[str, Any], count: int, client_ids: list[str], run_tag: str
    ):
        table = outputs.get("ConnectionTableName")
        if not table:
            raise ToolingError(
                "The stack outputs have no ConnectionTableName: deploy the stack again (`invoke up`)."
            )
        self._table = str(table)
        self._dynamodb = engine.client("dynamodb")
        self._ids = [f"{run_tag}idle{number}" for number in range(count)]
        self._client_ids = client_ids

    def add(self) -> None:
        until = str(int(time.time()) + 3600)
        connected_at = str(int(time.time() * 1000))
        self._write_all(
            [
                {
                    "PutRequest": {
                        "Item": {
                            "ConnectionId": {"S": connection_id},
                            "ClientId": {"S": self._client_ids[number % len(self._client_ids)]},
                            "Admin": {"BOOL": False},
                            "TokenExpiresAt": {"N": until},
                            "ExpiresAt": {"N": until},
                            "ConnectedAt": {"N": connected_at},
                        }
                    }
                }
                for number, connection_id in enumerate(self._ids)
            ]
        )

    def remove(self) -> None:
        self._write_all([{"DeleteRequest": {"Key": {"ConnectionId": {"S": cid}}}} for cid in self._ids])

    def _write_all(self, requests: list[dict[str, Any]]) -> None:
        # BatchWriteItem takes 25 requests; what DynamoDB leaves unprocessed is sent again.
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start : start + 25]}
            while pending:
                pending = self._dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


@contextlib.contextmanager
def idle_clients(engine: Engine, outputs: Mapping[str, Any], run_tag: str, count: int) -> Iterator[list[str]]:
    """`count` app clients made for the run (the sweep closes connections of clients not in the pool), removed
    afterwards whatever happens."""
    made = []
    try:
        for number in range(count):
            made.append(create_consumer(engine, outputs, f"{run_tag}-idle-{number}", [READ_SCOPE]))
        yield [client.client_id for client in made]
    finally:
        for client in made:
            with contextlib.suppress(ToolingError):
                remove_consumer(engine, outputs, client.client_id)


def measure(
    engine: Engine,
    outputs: Mapping[str, Any],
    writes: int,
    *,
    idle: int = DEFAULT_IDLE_CONNECTIONS,
    progress: Callable[[str], None] = print,
) -> NotificationBench:
    collection = str(outputs["ProductPurchaseApi"]).rstrip("/")
    run_tag = f"notify-{int(time.time())}"
    created: list[str] = []
    samples: dict[str, tuple[list[float], list[float]]] = {"alone": ([], []), "idle": ([], [])}
    rounds = ROUNDS if idle else 1
    with (
        Listener(socket_url(engine, outputs)) as listener,
        idle_clients(engine, outputs, run_tag, IDLE_CLIENTS if idle else 0) as clients,
    ):
        idle_records = IdleConnections(engine, outputs, idle, clients, run_tag)
        try:
            progress(f"Connected; {WARMUP_WRITES} warm-up writes, then {writes} measured, one at a time ...")
            *_, warmed = _timed_writes(engine, outputs, listener, WARMUP_WRITES, run_tag, 0)
            created += warmed
            for round_number in range(rounds):
                share = writes // rounds + (1 if round_number < writes % rounds else 0)
                phases = ["alone", "idle"] if idle else ["alone"]
                for phase in phases:
                    if phase == "idle":
                        progress(
                            f"Round {round_number + 1}/{rounds}: {share} writes beside {idle} idle connections ..."
                        )
                        idle_records.add()
                    else:
                        progress(
                            f"Round {round_number + 1}/{rounds}: {share} writes with no other connection ..."
                        )
                    try:
                        post, lag, made = _timed_writes(
                            engine, outputs, listener, share, run_tag, WARMUP_WRITES + len(created)
                        )
                    finally:
                        if phase == "idle":
                            idle_records.remove()
                    samples[phase][0].extend(post)
                    samples[phase][1].extend(lag)
                    created += made
        finally:
            headers = {"Authorization": f"Bearer {access_token(engine, outputs, READ_WRITE_SCOPES)}"}
            for purchase_id in created:  # leave the table as it was
                call("DELETE", f"{collection}/{purchase_id}", headers=headers)

    def phase_of(name: str) -> Phase:
        post, lag = samples[name]
        return Phase(Distribution.of_seconds(post), Distribution.of_seconds(lag))

    return NotificationBench(writes, phase_of("alone"), idle, phase_of("idle") if idle else None)


def format_bench(result: NotificationBench) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    def rows(label: str, phase: Phase) -> str:
        return (
            f"  {label}\n"
            f"    POST -> 202                     p50 {ms(phase.post.p50)}  p95 {ms(phase.post.p95)}\n"
            f"    202 -> notification received   p50 {ms(phase.notification.p50)}"
            f"  p95 {ms(phase.notification.p95)}  max {ms(phase.notification.max)}"
        )

    lines = [
        f"{result.writes} writes per phase, one at a time (warm):",
        rows("no other connection", result.alone),
    ]
    if result.beside_idle is not None:
        lines.append(
            rows(f"beside {result.idle_connections} idle connections of other clients", result.beside_idle)
        )
        ratio = result.idle_ratio
        verdict = "-" if ratio is None else ("met" if ratio <= IDLE_RATIO_TARGET else "missed")
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        lines.append(
            f"  notification p95 beside idle / alone: {shown} (target <= {IDLE_RATIO_TARGET:.0f}x): {verdict}"
        )
    return "\n".join(lines)
