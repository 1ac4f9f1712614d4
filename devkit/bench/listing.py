"""`invoke bench-list`: list latency with and without a crowd of tombstones.

Deleted purchases stay in the table as tombstones for 30 days. The reader lists from a sparse index of live
purchases, so a page should cost the same however many tombstones there are. This measures it: GET pages of
`limit` purchases, following `Link` and starting over at the end, first on the table as it is, then with
`tombstones` more put straight into the table (removed again afterwards), and reports p50/p95 of each and their
ratio (both measured in the same run, so the machine's speed cancels out).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

from devkit.bench.stats import Distribution
from devkit.core.http import call
from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, authorization_header
from devkit.stack.outputs import reachable_outputs
from devkit.stack.tombstones import remove_items, seed_tombstones

_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class ListBenchReport:
    requests: int
    limit: int
    tombstones: int
    baseline: Distribution
    with_tombstones: Distribution

    def format(self) -> str:
        def row(label: str, figures: Distribution) -> str:
            return f"  {label:<28} p50 {figures.p50 or 0:7.1f} ms   p95 {figures.p95 or 0:7.1f} ms"

        ratio = (
            f"{self.with_tombstones.p50 / self.baseline.p50:.2f}x"
            if self.baseline.p50 and self.with_tombstones.p50
            else "n/a"
        )
        return "\n".join(
            [
                f"List latency, {self.requests} GET ?limit={self.limit} page requests per phase:",
                row("as the table is", self.baseline),
                row(f"+ {self.tombstones:,} tombstones", self.with_tombstones),
                f"  p50 ratio (tombstones / baseline): {ratio}",
            ]
        )


def _timed_pages(api_url: str, requests: int, limit: int, headers: dict[str, str]) -> Distribution:
    """`requests` list requests, walking the pages and starting over after the last; each must answer 200."""
    collection = api_url.rstrip("/")
    first = f"{collection}?limit={limit}"
    url = first
    seconds: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        reply = call("GET", url, headers=headers)
        seconds.append(time.perf_counter() - started)
        if reply.status != 200:
            raise ToolingError(f"GET {url} answered {reply.status}: {reply.body[:200]!r}")
        url = next_target(collection, reply.headers.get("link")) or first
    return Distribution.of_seconds(seconds)


def run_list_bench(
    engine: Engine,
    stage: str,
    *,
    tombstones: int,
    requests: int,
    limit: int,
    progress: Callable[[str], None] = print,
) -> ListBenchReport:
    outputs = reachable_outputs(engine, stage)
    api, table = outputs["ProductPurchaseApi"], outputs["TableName"]
    # One read-scoped token for the whole run (cached until shortly before it expires).
    headers = authorization_header(engine, outputs, (READ_SCOPE,))
    progress(f"Timing {requests} list requests on the table as it is ...")
    baseline = _timed_pages(api, requests, limit, headers)
    progress(f"Putting {tombstones:,} tombstones into {table} ...")
    started = time.monotonic()
    ids = seed_tombstones(engine, table, tombstones)
    try:
        progress(f"  done in {time.monotonic() - started:.1f} s; timing {requests} list requests again ...")
        crowded = _timed_pages(api, requests, limit, headers)
    finally:
        remove_items(engine, table, ids, progress=progress)
    return ListBenchReport(requests, limit, tombstones, baseline, crowded)


def next_target(collection_url: str, link_header: str | None) -> str | None:
    """The absolute URL a `Link: <...>; rel="next"` header names, or None."""
    match = _LINK_NEXT.search(link_header or "")
    return urljoin(collection_url, match.group(1)) if match else None
