"""The first write after `invoke up` against the writes that follow it: each POSTed, then polled until readable,
one at a time, so the first one pays whatever is still cold (a worker to spawn, imports, connections)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from devkit.bench.client import KeepAliveClient
from devkit.bench.load import purchase_body
from devkit.bench.stats import percentile

POLL_INTERVAL = 0.005


@dataclass(frozen=True)
class FirstWrite:
    """Accepted-to-readable seconds of the first write and of the warm ones after it, and the first POST's time."""

    first_post: float
    first_lag: float
    warm_posts: tuple[float, ...]
    warm_lags: tuple[float, ...]

    @property
    def ratio(self) -> float | None:
        """First write's lag over the median warm write's (the target: <= 2)."""
        median = percentile(self.warm_lags, 50)
        return self.first_lag / median if median else None


def measure_first_write(
    api: str,
    run_tag: str,
    *,
    warm_writes: int = 10,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> FirstWrite:
    client = KeepAliveClient(api, timeout=timeout)
    base = urlsplit(api).path.rstrip("/")
    posts: list[float] = []
    lags: list[float] = []
    try:
        for index in range(warm_writes + 1):
            reply = client.request("POST", base, purchase_body(run_tag, index), headers)
            accepted_at = time.perf_counter()
            if reply.status != 202:
                raise RuntimeError(f"POST answered {reply.status}: {reply.body[:200]!r}")
            purchase_id = json.loads(reply.body)["ProductPurchaseId"]
            while client.request("GET", f"{base}/{purchase_id}", headers=headers).status != 200:
                if time.perf_counter() - accepted_at > timeout:
                    raise RuntimeError(f"write {index} not readable within {timeout:g} s")
                time.sleep(POLL_INTERVAL)
            posts.append(reply.seconds)
            lags.append(time.perf_counter() - accepted_at)
    finally:
        client.close()
    return FirstWrite(posts[0], lags[0], tuple(posts[1:]), tuple(lags[1:]))
