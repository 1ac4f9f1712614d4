"""How fast a change reaches a connected client: accepted write (the API's 202) -> purchase.created received on
the WebSocket, one write at a time after a warm-up, so the figure is the pipeline's latency (queue, writer,
stream, notifier, push), not a queue under load. The POST round trip of the same run is the reference."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devkit.bench.load import purchase_body
from devkit.bench.stats import Distribution
from devkit.core.http import call
from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_WRITE_SCOPES, access_token
from devkit.stack.notifications import Listener, of_purchase, socket_url

WARMUP_WRITES = 10
NOTIFICATION_TIMEOUT = 30.0


@dataclass(frozen=True)
class NotificationBench:
    writes: int
    post: Distribution  # POST -> 202
    notification: Distribution  # 202 -> purchase.created received


def measure(
    engine: Engine, outputs: Mapping[str, Any], writes: int, *, progress: Callable[[str], None] = print
) -> NotificationBench:
    collection = str(outputs["ProductPurchaseApi"]).rstrip("/")
    run_tag = f"notify-{int(time.time())}"
    created: list[str] = []
    post_seconds: list[float] = []
    lag_seconds: list[float] = []
    with Listener(socket_url(engine, outputs)) as listener:
        progress(f"Connected; {WARMUP_WRITES} warm-up writes, then {writes} measured, one at a time ...")
        for index in range(WARMUP_WRITES + writes):
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
            arrived = next(
                r.at for r in listener.received if r.message.get("ProductPurchaseId") == purchase_id
            )
            if index >= WARMUP_WRITES:
                post_seconds.append(accepted - sent)
                lag_seconds.append(arrived - accepted)
    for purchase_id in created:  # leave the table as it was
        call("DELETE", f"{collection}/{purchase_id}", headers=headers)
    return NotificationBench(
        writes, Distribution.of_seconds(post_seconds), Distribution.of_seconds(lag_seconds)
    )


def format_bench(result: NotificationBench) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    return (
        f"{result.writes} writes, one at a time (warm):\n"
        f"  POST -> 202                     p50 {ms(result.post.p50)}  p95 {ms(result.post.p95)}\n"
        f"  202 -> notification received   p50 {ms(result.notification.p50)}  p95 {ms(result.notification.p95)}"
        f"  max {ms(result.notification.max)}"
    )
