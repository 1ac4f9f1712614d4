"""How fast a change reaches a connected client: accepted write (the API's 202) -> purchase.created received on
the WebSocket, one write at a time after a warm-up, so the figure is the pipeline's latency (queue, writer,
stream, notifier, push), not a queue under load. The POST round trip of the same run is the reference.

Measured twice in one run: with no other connection, then with `idle` idle connections of other clients (records
in the connection table, as the notifier sees connections, spread over a few app clients made for the run so the
sweep keeps them). A batch reads only its owners' and the admins' connections, so the second figure must stay
within IDLE_RATIO_TARGET of the first.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from devkit.auth import READ_SCOPE, READ_WRITE_SCOPES, access_token
from devkit.bench.load import purchase_body
from devkit.bench.stats import Distribution
from devkit.consumers import create_consumer, remove_consumer
from devkit.engines import Engine
from devkit.http import call
from devkit.notifications import Listener, of_purchase, socket_url
from devkit.project import ToolingError

WARMUP_WRITES = 10
NOTIFICATION_TIMEOUT = 30.0
DEFAULT_IDLE_CONNECTIONS = 1000
# The idle connections' app clients: as many as MaxConnectionsPerClient's ceiling would need is not the point (the
# records are written directly); a few owners make them other clients' connections, not one client's.
IDLE_CLIENTS = 4
# p95 with the idle connections, against p95 without: the target.
IDLE_RATIO_TARGET = 2.0


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


def _phase(
    engine: Engine, outputs: Mapping[str, Any], listener: Listener, writes: int, run_tag: str, first: int
) -> tuple[Phase, list[str]]:
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
    return Phase(Distribution.of_seconds(post_seconds), Distribution.of_seconds(lag_seconds)), created


@contextlib.contextmanager
def idle_connections(engine: Engine, outputs: Mapping[str, Any], count: int, run_tag: str) -> Iterator[None]:
    """`count` connection records of IDLE_CLIENTS app clients made for the run, valid for an hour; all removed
    afterwards, whatever happens."""
    table = outputs.get("ConnectionTableName")
    if not table:
        raise ToolingError(
            "The stack outputs have no ConnectionTableName: deploy the stack again (`invoke up`)."
        )
    clients = []
    ids: list[str] = []
    resource = engine.client("dynamodb")
    try:
        for number in range(IDLE_CLIENTS):
            clients.append(create_consumer(engine, outputs, f"{run_tag}-idle-{number}", [READ_SCOPE]))
        until = int(time.time()) + 3600
        requests = []
        for number in range(count):
            connection_id = f"{run_tag}idle{number}"
            ids.append(connection_id)
            item = {
                "ConnectionId": {"S": connection_id},
                "ClientId": {"S": clients[number % len(clients)].client_id},
                "Admin": {"BOOL": False},
                "TokenExpiresAt": {"N": str(until)},
                "ExpiresAt": {"N": str(until)},
                "ConnectedAt": {"N": str(int(time.time() * 1000))},
            }
            requests.append({"PutRequest": {"Item": item}})
        _write_all(resource, table, requests)
        yield
    finally:
        _write_all(resource, table, [{"DeleteRequest": {"Key": {"ConnectionId": {"S": cid}}}} for cid in ids])
        for client in clients:
            with contextlib.suppress(ToolingError):
                remove_consumer(engine, outputs, client.client_id)


def _write_all(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    # BatchWriteItem takes 25 requests; what DynamoDB leaves unprocessed is sent again.
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


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
    beside_idle: Phase | None = None
    with Listener(socket_url(engine, outputs)) as listener:
        try:
            progress(f"Connected; {WARMUP_WRITES} warm-up writes, then {writes} measured, one at a time ...")
            _, warmed = _phase(engine, outputs, listener, WARMUP_WRITES, run_tag, 0)
            created += warmed
            alone, measured = _phase(engine, outputs, listener, writes, run_tag, WARMUP_WRITES)
            created += measured
            if idle:
                progress(
                    f"... and {writes} more beside {idle} idle connections of {IDLE_CLIENTS} other clients ..."
                )
                with idle_connections(engine, outputs, idle, run_tag):
                    beside_idle, measured = _phase(
                        engine, outputs, listener, writes, run_tag, WARMUP_WRITES + writes
                    )
                    created += measured
        finally:
            headers = {"Authorization": f"Bearer {access_token(engine, outputs, READ_WRITE_SCOPES)}"}
            for purchase_id in created:  # leave the table as it was
                call("DELETE", f"{collection}/{purchase_id}", headers=headers)
    return NotificationBench(writes, alone, idle, beside_idle)


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
