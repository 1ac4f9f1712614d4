"""See inside the stack: one write's journey across its functions (`invoke trace`), the least-privilege report of
its roles (`invoke iam-report`) and what it would cost on AWS (`invoke cost`)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

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
        say(json.dumps({"id": id, "journeys": [journey.to_json() for journey in journeys]}, indent=2))
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


if TYPE_CHECKING:
    from devkit.stack.iam_report import Call


@command(
    help={"fresh": "forget the calls recorded so far (the next report covers only what runs after this)"}
)
def iam_report(
    c: Context, target: str = "ministack", stage: str = "dev", json_: bool = False, fresh: bool = False
) -> None:
    """Each role's granted actions against the calls the engine's IAM evaluated for it: unused grants, denied calls."""
    from devkit.stack import iam_report as least_privilege

    engine = running(target)
    since, calls = least_privilege.recorded_calls(engine)
    if fresh:
        engine.forget_iam_decisions()  # type: ignore[attr-defined]  # recorded_calls proved it a MiniStack
        say("Recorded IAM decisions forgotten: run the stack (e.g. `invoke e2e`), then `invoke iam-report`.")
        return
    reports, others = least_privilege.role_reports(engine, check_stage(stage), calls)
    if json_:
        say(json.dumps(least_privilege.report_json(since, reports, others), indent=2))
        return
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    say(f"IAM decisions recorded by {target} since {started}: {sum(call.count for call in calls)} call(s).")
    for report in reports:
        users = ", ".join(report.functions) or "no function"
        ui.table(
            ("Policy", "Action", "Resource", "Calls", "Verdict"),
            [
                (
                    use.grant.policy,
                    use.grant.action,
                    use.grant.shown_resource + (" (conditional)" if use.grant.conditional else ""),
                    str(use.calls),
                    _verdict(use.verdict, use.why),
                )
                for use in report.grants
            ],
            title=f"{report.logical_id} ({report.role_name}), used by {users}",
        )
        for arn in report.unread_policies:
            ui.note(f"  {arn}: the engine has not this managed policy's document; its grants are not listed.")
        refused = [
            (_session(call, report.functions), call.action, call.resource, call.decision, str(call.count))
            for call in report.denied
        ]
        if refused:
            ui.table(("Session", "Action", "Resource", "Decision", "Calls"), refused, title="  Denied calls")
        if report.ungranted:
            ui.table(
                ("Action", "Resource", "Calls"),
                [(call.action, call.resource, str(call.count)) for call in report.ungranted],
                title="  Allowed, but by no grant of the template",
            )
    if others:
        ui.table(
            ("Principal", "Action", "Resource", "Decision", "Calls"),
            [(call.principal, call.action, call.resource, call.decision, str(call.count)) for call in others],
            title="Principals that are none of the stack's roles",
        )
    unused = sum(len(report.unused) for report in reports)
    own_denied = sum(
        call.count
        for report in reports
        for call in report.denied
        if _session(call, report.functions) == "function"
    )
    other_denied = sum(call.count for report in reports for call in report.denied) - own_denied
    ui.report(
        f"{unused} grant(s) never used, {own_denied} call(s) of the functions denied, {other_denied} call(s) of "
        "other sessions (tests assuming a role) denied."
    )


def _verdict(verdict: str, why: str) -> ui.Text:
    from devkit.stack.iam_report import BY_AWS, UNUSED

    if verdict == UNUSED:
        return ui.Text("UNUSED", style="bold red")
    if verdict == BY_AWS:
        return ui.Text(f"by AWS: {why}", style="dim")
    return ui.Text(verdict, style="green")


def _session(call: Call, functions: list[str]) -> str:
    """`function` for the role's own function, else the session that assumed the role (a test's)."""
    session = (call.role_and_session or ("", ""))[1]
    return "function" if session in functions else f"other ({session})"


@command(
    help={
        "writes_per_month": "purchase writes (POST/PUT/DELETE) a month (default 1,000,000)",
        "reads_per_month": "purchase reads (GET) a month (default 1,000,000)",
        "connections": "WebSocket clients connected on average, all month (default 10)",
        "target": "engine whose functions' invocations are measured: ministack (default), localstack or aws; "
        "with none running, the figures are the labelled defaults",
    }
)
def cost(
    c: Context,
    writes_per_month: int = 1_000_000,
    reads_per_month: int = 1_000_000,
    connections: int = 10,
    target: str = "ministack",
    stage: str = "dev",
    json_: bool = False,
) -> None:
    """What the stack would cost a month on AWS at this traffic, per component, from measured function figures."""
    from devkit.bench import cost as pricing
    from devkit.commands import engine_named
    from devkit.core.project import EMULATORS, ToolingError
    from devkit.stack.stacks import describe_stack

    if min(writes_per_month, reads_per_month, connections) < 0:
        raise ToolingError("--writes-per-month, --reads-per-month and --connections cannot be negative.")
    engine = engine_named(target)
    stage = check_stage(stage)
    measured_on = None if target in EMULATORS and not engine.status().running else engine
    if measured_on is not None and describe_stack(engine.client("cloudformation"), stack_name(stage)) is None:
        measured_on = None
    if measured_on is None:
        ui.note(
            f"No {stack_name(stage)} running on {target}: every function figure below is an assumed default."
        )
    traffic = pricing.Traffic(writes_per_month, reads_per_month, connections)
    estimate = pricing.monthly_cost(traffic, engine=measured_on, stage=stage, progress=ui.note)
    if json_:
        say(json.dumps(estimate, indent=2))
        return
    ui.table(
        ("Component", "Usage a month", "USD a month", "Basis"),
        [
            (line["component"], line["usage"], f"{line['dollars']:,.2f}", line["basis"])
            for line in estimate["lines"]
        ],
        title=f"{writes_per_month:,} writes, {reads_per_month:,} reads, {connections:,} connection(s) a month",
    )
    prices = estimate["prices"]
    say(
        f"Total: {estimate['total']:,.2f} {estimate['currency']} a month in {estimate['region']}, no free tier; prices "
        f"of devkit/bench/{prices['file']} dated {prices['date']}."
    )
