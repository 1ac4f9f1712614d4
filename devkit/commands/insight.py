"""See inside a deployed stack: one write's journey across its functions (`invoke trace`)."""

from __future__ import annotations

import json as json_module
import time

from invoke.context import Context

from devkit.commands import command, running, say
from devkit.core import ui
from devkit.core.project import check_stage, stack_name

_BAR_WIDTH = 32


@command(
    positional=["id"],
    help={
        "id": "a purchase id (every write to it) or a request's correlation id (API Gateway's request id)",
        "since": "how far back to look: 30s, 10m, 2h, 1d (default 1d)",
        "json": "print the journeys as JSON",
    },
)
def trace(
    c: Context, id: str, target: str = "ministack", stage: str = "dev", since: str = "1d", json_: bool = False
) -> None:
    """Show one write's journey across the stack, step by step with times and durations, from the functions' logs."""
    from devkit.stack.logs import since_seconds, stack_log_groups
    from devkit.stack.trace import check_trace_id
    from devkit.stack.trace import trace as journeys_of

    window = since_seconds(since)
    check_trace_id(id)
    engine = running(target)
    groups = stack_log_groups(engine, stack_name(check_stage(stage)))
    journeys = journeys_of(engine, groups, id, start_ms=int((time.time() - window) * 1000))
    if json_:
        say(json_module.dumps({"id": id, "journeys": [journey.to_json() for journey in journeys]}, indent=2))
        return
    for journey in journeys:
        began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(journey.start_ms / 1000))
        say(
            f"{journey.action or 'write'} {journey.purchase_id or '?'} (correlation id {journey.correlation_id}), "
            f"{began}, {journey.end_ms - journey.start_ms:.0f} ms end to end"
        )
        total = max(journey.end_ms - journey.start_ms, 1.0)
        rows: list[list[str | ui.Text]] = []
        for step in journey.steps:
            offset = step.start_ms - journey.start_ms
            row: list[str | ui.Text] = [step.name, f"+{offset:.0f} ms", f"{step.duration_ms:.0f} ms"]
            if ui.console.is_terminal:
                row.append(_bar(offset / total, step.duration_ms / total))
            rows.append([*row, step.detail])
        columns = ["Step", "At", "Took", *([""] if ui.console.is_terminal else []), "Detail"]
        ui.table(columns, rows)
        say("")


def _bar(start: float, length: float) -> ui.Text:
    """The step's place in the journey as a bar of `_BAR_WIDTH` cells (a point is one thin mark)."""
    first = min(int(start * _BAR_WIDTH), _BAR_WIDTH - 1)
    cells = max(1, round(length * _BAR_WIDTH))
    mark = "█" * min(cells, _BAR_WIDTH - first) if length > 0 else "▏"
    return ui.Text(" " * first + mark, style="cyan")
