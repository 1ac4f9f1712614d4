"""The arithmetic of the benchmark, kept free of I/O so it can be tested on its own: percentiles and the
accounting that decides whether a write was lost or applied twice."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`th percentile (0 < q <= 100): always a value that was observed, None when empty.

    Nearest rank rather than interpolation: a p99 of 40 ms then means one request really took 40 ms.
    """
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Distribution:
    """Summary of a set of durations, in milliseconds."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    max: float | None

    @classmethod
    def of_seconds(cls, seconds: Sequence[float]) -> Distribution:
        millis = sorted(value * 1000 for value in seconds)
        if not millis:
            return cls(0, None, None, None, None, None)
        return cls(
            count=len(millis),
            p50=percentile(millis, 50),
            p95=percentile(millis, 95),
            p99=percentile(millis, 99),
            mean=sum(millis) / len(millis),
            max=millis[-1],
        )


def rate(count: int, seconds: float) -> float | None:
    """Events per second, None when nothing was timed."""
    return count / seconds if seconds > 0 else None


@dataclass(frozen=True)
class WriteAccounting:
    """Where every accepted write ended up.

    `accepted` counts logical writes the API answered 202 for. A write is `lost` when its item is neither in the
    table nor in the DLQ, or when the API gave its id to another write too (one of the two cannot survive).
    `duplicated` counts logical writes that left more than one item (the same request applied twice under two
    ids), and `unacknowledged` the run's items in the table that no 202 ever reported (a request whose answer
    never reached the client; with an idempotency key its retry gets the same id, so this should be 0).
    """

    accepted: int
    in_table: int
    in_dlq: int
    in_both: int
    lost: int
    duplicated: int
    unacknowledged: int
    lost_keys: tuple[str, ...] = field(default=())
    duplicated_keys: tuple[str, ...] = field(default=())

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


def account_writes(
    accepted: Mapping[str, str],
    table_items: Iterable[tuple[str, str]],
    dlq_ids: Iterable[str],
    *,
    sample: int = 20,
) -> WriteAccounting:
    """Compare what the API accepted with what the table and the DLQ hold.

    `accepted` maps each logical write (its client-side key) to the id the API answered with; `table_items`
    are (id, key) pairs of the run's items in the table (a pair seen twice, as a paging scan may, counts once);
    `dlq_ids` the ids of the run's messages in the DLQ. `sample` bounds the example keys kept for the report.
    """
    items = set(table_items)
    table_ids = {item_id for item_id, _ in items}
    ids_per_key = Counter(key for _, key in items)
    keys_per_id = Counter(accepted.values())
    dlq = set(dlq_ids)
    lost = sorted(
        key
        for key, item_id in accepted.items()
        if keys_per_id[item_id] > 1 or (item_id not in table_ids and item_id not in dlq)
    )
    duplicated = sorted(key for key, count in ids_per_key.items() if count > 1)
    accepted_ids = set(accepted.values())
    return WriteAccounting(
        accepted=len(accepted),
        in_table=len(accepted_ids & table_ids),
        in_dlq=len(accepted_ids & dlq),
        in_both=len(accepted_ids & table_ids & dlq),
        lost=len(lost),
        duplicated=len(duplicated),
        unacknowledged=len(table_ids - accepted_ids),
        lost_keys=tuple(lost[:sample]),
        duplicated_keys=tuple(duplicated[:sample]),
    )
