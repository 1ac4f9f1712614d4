"""The load itself: writer threads POST purchases as fast as the API answers, poller threads GET each accepted
id until it is readable, each thread on its own keep-alive connection."""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from devkit.bench.client import NO_RESPONSE, KeepAliveClient

# Worth another try with the same Idempotency-Key: throttled, a gateway or integration failure, no answer.
# 409: the same Idempotency-Key is still in flight (an attempt that timed out on our side is still running).
RETRYABLE = frozenset({NO_RESPONSE, 409, 429, 500, 502, 503, 504})
_RETRY_PAUSE = 0.05
_PROGRESS_EVERY = 5.0


def purchase_body(run_tag: str, index: int) -> bytes:
    """A valid purchase that names its run (CustomerId) and its place in the run (ProductId), so the run's
    items can be found in the table and a write applied twice shows as two items with one ProductId."""
    return json.dumps(
        {
            "ProductId": write_key(run_tag, index),
            "ProductName": "Benchmark widget",
            "Category": "Benchmark",
            "PricePerUnit": "12.5",
            "Quantity": "2",
            "CustomerId": run_tag,
            "CustomerName": "Benchmark client",
            "TimeOfPurchase": "2024-01-31T16:23:42.389Z",
        },
        separators=(",", ":"),
    ).encode()


def write_key(run_tag: str, index: int) -> str:
    return f"{run_tag}-{index}"


@dataclass(frozen=True)
class LoadSettings:
    requests: int
    concurrency: int
    # Soak: keep sending until `requests` writes are accepted, retrying a failed one with its Idempotency-Key.
    until_accepted: bool = False
    idempotent: bool = False
    max_attempts: int = 1
    # Readability polling: each accepted id is polled every `poll_interval` s by `pollers` threads, for at most
    # `readable_within` s after its 202.
    poll_readability: bool = True
    # The share of accepted writes whose lag is measured, drawn at random (seeded by the run's tag, so a run can
    # be repeated); every drawn write is polled until readable, however far behind the pollers are.
    lag_sample: float = 1.0
    pollers: int = 4
    poll_interval: float = 0.01
    readable_within: float = 10.0
    deadline: float = 120.0
    timeout: float = 10.0
    # Open loop: start writes at this many per second in total (0: each client sends as soon as it has its
    # answer, i.e. as fast as the service goes).
    rate: float = 0.0
    # Sent with every request: the bearer token (the API refuses requests without one).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class LoadResult:
    post_seconds: list[float] = field(default_factory=list)
    post_statuses: Counter[int] = field(default_factory=Counter)
    get_seconds: list[float] = field(default_factory=list)
    get_statuses: Counter[int] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    # logical write key -> the ProductPurchaseId the API answered with
    accepted: dict[str, str] = field(default_factory=dict)
    readable: set[str] = field(default_factory=set)
    unreadable: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    # Accepted writes whose lag was measured (the random sample).
    lag_sampled: int = 0
    sending_seconds: float = 0.0
    hit_deadline: bool = False

    @property
    def requests_sent(self) -> int:
        return sum(self.post_statuses.values())


@dataclass(order=True)
class _Pending:
    due: float
    accepted_at: float = field(compare=False)
    key: str = field(compare=False)
    purchase_id: str = field(compare=False)


class LoadRun:
    def __init__(
        self,
        api_url: str,
        run_tag: str,
        settings: LoadSettings,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.api_url = api_url
        self.run_tag = run_tag
        self.settings = settings
        self.progress = progress
        base = urlsplit(api_url).path.rstrip("/")
        self._post_path = base
        self._item_prefix = f"{base}/"
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._sampler = random.Random(run_tag)
        self._next_index = 0
        self._in_flight = 0
        self._writers_left = settings.concurrency
        self._pending: list[_Pending] = []
        self._pending_changed = threading.Condition(self._lock)
        self._deadline = 0.0
        self._started = 0.0
        self._done = threading.Event()

    def run(self) -> LoadResult:
        settings = self.settings
        started = self._started = time.perf_counter()
        self._deadline = started + settings.deadline
        writers = [
            threading.Thread(target=self._write_loop, name=f"bench-writer-{n}", daemon=True)
            for n in range(settings.concurrency)
        ]
        pollers = [
            threading.Thread(target=self._poll_loop, name=f"bench-poller-{n}", daemon=True)
            for n in range(settings.pollers if settings.poll_readability else 0)
        ]
        ticker = threading.Thread(target=self._report_progress, args=(started,), daemon=True)
        for thread in [*writers, *pollers, ticker]:
            thread.start()
        for thread in writers:
            thread.join(timeout=max(0.0, self._deadline - time.perf_counter()) + settings.timeout + 5)
        self.result.sending_seconds = time.perf_counter() - started
        for thread in pollers:
            thread.join(timeout=max(0.0, self._deadline - time.perf_counter()) + settings.readable_within + 5)
        self._done.set()
        with self._lock:
            self.result.hit_deadline = self.result.hit_deadline or time.perf_counter() >= self._deadline
            for left in self._pending:
                self.result.unreadable[left.key] = left.purchase_id
            self._pending.clear()
        return self.result

    # -- writers

    def _take_index(self) -> int | None:
        index = self._claim_index()
        if index is not None and self.settings.rate > 0:
            # The i-th write is due i/rate seconds after the start, whichever client sends it.
            wait = self._started + index / self.settings.rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        return index

    def _claim_index(self) -> int | None:
        with self._lock:
            if time.perf_counter() >= self._deadline:
                self.result.hit_deadline = True
                return None
            if self.settings.until_accepted:
                if len(self.result.accepted) + self._in_flight >= self.settings.requests:
                    return None
            elif self._next_index >= self.settings.requests:
                return None
            index = self._next_index
            self._next_index += 1
            self._in_flight += 1
            return index

    def _write_loop(self) -> None:
        client = KeepAliveClient(
            self.api_url, timeout=self.settings.timeout, headers=dict(self.settings.headers)
        )
        try:
            while (index := self._take_index()) is not None:
                self._write(client, index)
        finally:
            client.close()
            with self._pending_changed:
                self._writers_left -= 1
                self._pending_changed.notify_all()

    def _write(self, client: KeepAliveClient, index: int) -> None:
        key = write_key(self.run_tag, index)
        body = purchase_body(self.run_tag, index)
        headers = {"Idempotency-Key": key} if self.settings.idempotent else None
        purchase_id = None
        for attempt in range(self.settings.max_attempts):
            if attempt:
                time.sleep(_RETRY_PAUSE * attempt)
            exchange = client.request("POST", self._post_path, body, headers)
            accepted_at = time.perf_counter()
            with self._lock:
                self.result.post_seconds.append(exchange.seconds)
                self.result.post_statuses[exchange.status] += 1
                self.result.retries += 1 if attempt else 0
            if exchange.status == 202:
                purchase_id = _purchase_id(exchange.body)
                break
            if exchange.status not in RETRYABLE or time.perf_counter() >= self._deadline:
                break
        with self._pending_changed:
            self._in_flight -= 1
            if purchase_id is None:
                return
            self.result.accepted[key] = purchase_id
            if not self.settings.poll_readability:
                return
            if self._sampler.random() >= self.settings.lag_sample:
                return
            self.result.lag_sampled += 1
            heapq.heappush(
                self._pending,
                _Pending(accepted_at + self.settings.poll_interval, accepted_at, key, purchase_id),
            )
            self._pending_changed.notify()

    # -- pollers

    def _next_due(self) -> _Pending | None:
        with self._pending_changed:
            while True:
                now = time.perf_counter()
                if now >= self._deadline + self.settings.readable_within:
                    return None
                if self._pending:
                    wait = self._pending[0].due - now
                    if wait <= 0:
                        return heapq.heappop(self._pending)
                    self._pending_changed.wait(wait)
                elif self._writers_left == 0:
                    return None
                else:
                    self._pending_changed.wait(0.1)

    def _poll_loop(self) -> None:
        client = KeepAliveClient(
            self.api_url, timeout=self.settings.timeout, headers=dict(self.settings.headers)
        )
        try:
            while (due := self._next_due()) is not None:
                exchange = client.request("GET", self._item_prefix + due.purchase_id)
                now = time.perf_counter()
                with self._pending_changed:
                    self.result.get_seconds.append(exchange.seconds)
                    self.result.get_statuses[exchange.status] += 1
                    if exchange.status == 200:
                        self.result.lags.append(now - due.accepted_at)
                        self.result.readable.add(due.key)
                    elif now - due.accepted_at >= self.settings.readable_within:
                        self.result.unreadable[due.key] = due.purchase_id
                    else:
                        # 10 ms steps while the lag is short; a tenth of the lag so far once it is long, so a
                        # backlog of seconds is timed to ~10% without polling each id hundreds of times.
                        waited = now - due.accepted_at
                        due.due = now + max(self.settings.poll_interval, waited / 10)
                        heapq.heappush(self._pending, due)
        finally:
            client.close()

    def _report_progress(self, started: float) -> None:
        while not self._done.wait(_PROGRESS_EVERY):
            if self.progress is None:
                continue
            with self._lock:
                sent, accepted = self.result.requests_sent, len(self.result.accepted)
                waiting = len(self._pending)
            elapsed = time.perf_counter() - started
            self.progress(
                f"  {elapsed:5.0f} s: {sent} POSTs, {accepted} accepted ({accepted / elapsed:.0f}/s), "
                f"{waiting} awaiting readability"
            )


def _purchase_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)["ProductPurchaseId"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None
