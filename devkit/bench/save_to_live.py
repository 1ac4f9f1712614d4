"""Save-to-live time of `invoke up --watch`: a file in handlers/ is saved, and the clock runs until the watcher has
seen the change (its push starts) and until every alias serves the new code (its push returns). The watcher runs
as `up --watch` runs it, against the running local stack; the probe file is removed afterwards.

    uv run python -m devkit.bench.save_to_live [SAVES]     # default 10 saves, one every PAUSE seconds
"""

from __future__ import annotations

import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from unittest import mock

from devkit.bench.stats import percentile
from devkit.core.project import HANDLERS, stack_name
from devkit.delivery import watch
from devkit.delivery.deploy import push_code
from devkit.engines import Engine

PROBE = HANDLERS / "_save_to_live_probe.py"
# Between saves: each push settles, and no save lands inside the previous one's push. A seeded random part puts
# each save at another point of a polling watcher's cycle (a fixed pause would always hit the same point).
PAUSE = 1.0
JITTER = 0.5
SEED = 20261204
# The watcher is given this long to start before the first save.
SETTLE = 1.0
PUSH_TIMEOUT = 60.0


@dataclass(frozen=True)
class SaveToLive:
    seen: tuple[float, ...]  # seconds from each save to the start of its push
    live: tuple[float, ...]  # seconds from each save to the end of its push

    def summary(self) -> str:
        return (
            f"{len(self.live)} saves: seen after p50 {_ms(self.seen)} / max {max(self.seen) * 1000:.0f} ms; "
            f"live after p50 {_ms(self.live)} / max {max(self.live) * 1000:.0f} ms"
        )


def _ms(seconds: tuple[float, ...]) -> str:
    median = percentile(seconds, 50)
    return "-" if median is None else f"{median * 1000:.0f} ms"


def measure(engine: Engine, stack: str, saves: int) -> SaveToLive:
    pushes: queue.Queue[tuple[str, float]] = queue.Queue()

    def timed_push(*args: Any, **kwargs: Any) -> list[str]:
        pushes.put(("seen", time.monotonic()))
        try:
            return push_code(*args, **kwargs)
        finally:
            pushes.put(("live", time.monotonic()))

    def next_push(kind: str) -> float:
        while True:
            got, at = pushes.get(timeout=PUSH_TIMEOUT)
            if got == kind:
                return at

    timing = mock.patch.object(watch, "push_code", timed_push)
    timing.start()
    threading.Thread(
        target=watch.watch_handlers, args=(engine, stack), kwargs={"progress": lambda line: None}, daemon=True
    ).start()
    seen: list[float] = []
    live: list[float] = []
    try:
        time.sleep(SETTLE)
        jitter = random.Random(SEED)
        for number in range(saves):
            time.sleep(PAUSE + jitter.uniform(0, JITTER))
            saved = time.monotonic()
            PROBE.write_text(f"SAVE = {number}\n")
            seen.append(next_push("seen") - saved)
            live.append(next_push("live") - saved)
    finally:
        PROBE.unlink(missing_ok=True)
        next_push("live")  # the removal is pushed too: the stack serves handlers/ as it was
        timing.stop()
    return SaveToLive(tuple(seen), tuple(live))


def main() -> None:
    from devkit.engines.ministack import MiniStack

    saves = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(measure(MiniStack.create(), stack_name("dev"), saves).summary())


if __name__ == "__main__":
    main()
