"""The engine's raw SQS SendMessage rate at the benchmark's concurrency, on a throwaway queue: the ceiling the
whole write path (API -> sender -> SendMessage) cannot beat on this engine."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from devkit.engines import Engine


@dataclass(frozen=True)
class FloorResult:
    messages: int
    failures: int
    concurrency: int
    seconds: float

    @property
    def per_second(self) -> float | None:
        return self.messages / self.seconds if self.seconds > 0 else None


def measure_send_rate(
    engine: Engine, *, messages: int, concurrency: int, deadline: float = 60.0
) -> FloorResult:
    """Send `messages` small messages with `concurrency` threads (one SQS client and connection pool each) to a
    queue created for this and deleted afterwards."""
    sqs = engine.client("sqs")
    queue_url: str = sqs.create_queue(QueueName=f"bench-floor-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    try:
        # One client, with its own connection pool, per thread (a shared client's pool of 10 connections would
        # throttle 16 threads and understate the floor); built before the clock starts, as one costs far more
        # than a call.
        config = Config(max_pool_connections=2, retries={"max_attempts": 1})
        session = engine.session()
        clients = [
            session.client("sqs", endpoint_url=engine.endpoint_url(), config=config)
            for _ in range(concurrency)
        ]
        body = '{"action":"create","id":"00000000-0000-0000-0000-000000000000","purchase":null,"stamp":0}'
        lock = threading.Lock()
        counts = {"next": 0, "sent": 0, "failed": 0}
        stop_at = time.perf_counter() + deadline

        def send(client: Any) -> None:
            while True:
                with lock:
                    if counts["next"] >= messages or time.perf_counter() >= stop_at:
                        return
                    counts["next"] += 1
                try:
                    client.send_message(QueueUrl=queue_url, MessageBody=body)
                    outcome = "sent"
                except Exception:  # the floor counts what got through; a failure is reported, not raised
                    outcome = "failed"
                with lock:
                    counts[outcome] += 1

        threads = [threading.Thread(target=send, args=(client,), daemon=True) for client in clients]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=deadline + 30)
        seconds = time.perf_counter() - started
        return FloorResult(counts["sent"], counts["failed"], concurrency, seconds)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
