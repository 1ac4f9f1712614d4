"""`invoke bench` and `invoke bench --soak`: drive the load against a deployed stack, account for every write,
and put the figures in a Report."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from devkit.bench.baseline import bare_pipeline
from devkit.bench.cold_start import function_environments, measure_cold_starts
from devkit.bench.first_write import measure_first_write
from devkit.bench.floor import measure_send_rate
from devkit.bench.load import LoadResult, LoadRun, LoadSettings
from devkit.bench.processes import PeakMemorySampler, TreeMemory, cpu_seconds, tree_memory
from devkit.bench.report import (
    Baseline,
    EngineFigures,
    FirstWrite,
    Floor,
    Memory,
    Report,
    engine_targets,
    machine_info,
    targets_for,
)
from devkit.bench.stats import Distribution, WriteAccounting, account_writes, percentile, rate
from devkit.core.project import EMULATORS, ToolingError
from devkit.delivery.deploy import deploy_to_emulator
from devkit.delivery.warm import deploy_and_warm
from devkit.engines import Engine
from devkit.engines.ministack import MiniStack
from devkit.stack import dlq, queues
from devkit.stack.auth import authorization_header
from devkit.stack.outputs import reachable_outputs
from devkit.stack.tombstones import remove_items

Progress = Callable[[str], None]

DEFAULT_REQUESTS = 2000
DEFAULT_SOAK_WRITES = 10_000
SOAK_FAULTS = {"WriterFaultRate": "0.05", "WriterCrashRate": "0.02"}
NO_FAULTS = {"WriterFaultRate": "0", "WriterCrashRate": "0"}
# The soak's budget: sending, then waiting for retried and crashed batches to settle (a crashed batch comes
# back after the local stage's visibility timeout; three failed receives send a message to the DLQ).
SOAK_SEND_DEADLINE = 600.0
SOAK_SETTLE_DEADLINE = 180.0
BENCH_DEADLINE = 300.0
BENCH_SETTLE_DEADLINE = 60.0
_DLQ_LIMIT = 100_000
BACK_TO_IDLE_DEADLINE = 60.0
BASELINE_ROUNDS = 2


@dataclass(frozen=True)
class BenchSettings:
    requests: int = DEFAULT_REQUESTS
    concurrency: int = 16
    pollers: int = 0  # 0: a quarter of the concurrency, at least 2
    poll_interval: float = 0.01
    readable_within: float = 10.0
    warmup: int = 0  # writes per client in each warm-up step; 0: two
    floor_messages: int = 0  # 0: as many as requests, at most 2000
    keep_data: bool = False
    rate: float = 0.0  # writes/s in total, paced (open loop); 0: as fast as the API answers
    # A random share of accepted writes whose lag is measured (polling every write would load the engine with
    # dozens of GETs per write and time the pollers instead).
    lag_sample: float = 0.05
    baseline: bool = False  # also load the bare pipeline, alternating with the stack
    first_write: bool = False  # restart the engine (MiniStack) and time the first write after `up`
    profile: bool = True  # profile the engine's event loop during the load (MiniStack)


def engine_pid(engine: Engine) -> int | None:
    """The engine's process, where this project runs it on this host (MiniStack); None elsewhere."""
    pid = getattr(engine, "pid", None)
    if not callable(pid):
        return None
    value = pid()
    return value if isinstance(value, int) else None


@contextlib.contextmanager
def _memory_sampler(engine: Engine) -> Iterator[PeakMemorySampler | None]:
    pid = engine_pid(engine)
    if pid is None:
        yield None
        return
    with PeakMemorySampler(pid) as sampler:
        yield sampler


@contextlib.contextmanager
def _phase_cpu(engine: Engine) -> Iterator[list[float]]:
    """CPU-seconds (engine alone, engine with its workers) spent inside the block; empty where unknown."""
    spent: list[float] = []
    pid = engine_pid(engine)
    before = cpu_seconds(pid) if pid is not None else None
    yield spent
    if pid is not None and before is not None:
        after = cpu_seconds(pid)
        spent.extend((after[0] - before[0], after[1] - before[1]))


def _memory(sampler: PeakMemorySampler | None) -> Memory | None:
    if sampler is None:
        return None
    peak, start = sampler.peak, sampler.at_start
    return Memory(
        peak.total_bytes,
        peak.root_bytes,
        peak.processes,
        sampler.peak_processes,
        sampler.samples,
        engine_bytes_at_start=start.root_bytes,
        bytes_at_start=start.total_bytes,
    )


def run_benchmark(
    engine: Engine, stage: str, settings: BenchSettings, *, command: str, progress: Progress = print
) -> Report:
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run_tag = _run_tag()
    first_write = _first_write(engine, stage, run_tag, progress) if settings.first_write else None
    outputs = reachable_outputs(engine, stage)
    progress("Timing each handler's import + init in a fresh interpreter ...")
    environments = function_environments(engine, outputs)
    cold_starts = {cold.handler: cold.runs_ms for cold in measure_cold_starts(environments)}
    api = outputs["ProductPurchaseApi"]
    pollers = settings.pollers or max(2, settings.concurrency // 4)
    load = LoadSettings(
        requests=settings.requests,
        concurrency=settings.concurrency,
        pollers=pollers,
        poll_interval=settings.poll_interval,
        readable_within=settings.readable_within,
        deadline=BENCH_DEADLINE,
        rate=settings.rate,
        lag_sample=settings.lag_sample,
        headers=tuple(authorization_header(engine, outputs).items()),
    )
    notes: list[str] = []
    pid = engine_pid(engine)
    idle = tree_memory(pid) if pid is not None else None
    profiled = engine if settings.profile and isinstance(engine, MiniStack) else None
    profile = None
    with _memory_sampler(engine) as sampler:
        _warm_up(api, run_tag, dataclasses.replace(load, rate=0.0), settings.warmup, progress)
        floor_messages = settings.floor_messages or min(settings.requests, 2000)
        progress(f"Measuring the engine's raw SendMessage rate: {floor_messages} messages ...")
        with _phase_cpu(engine) as floor_cpu:
            floor = measure_send_rate(engine, messages=floor_messages, concurrency=settings.concurrency)
        pace = f", paced at {settings.rate:g}/s" if settings.rate else ""
        progress(
            f"Sending {settings.requests} writes at concurrency {settings.concurrency}{pace}, "
            f"{pollers} threads polling a random {settings.lag_sample:.0%} of them for readability ..."
        )
        saving = engine.save_status() if isinstance(engine, MiniStack) else None
        if profiled:
            profiled.start_profile()
        with _phase_cpu(engine) as write_cpu:
            result = LoadRun(api, run_tag, load, progress=progress).run()
            progress("Waiting for the queue to drain ...")
            drained = _wait_for_empty_queue(engine, outputs["QueueUrl"], BENCH_SETTLE_DEADLINE)
            drained_at = time.monotonic()
        if profiled:
            profile = profiled.stop_profile()
        saved = engine.save_status() if isinstance(engine, MiniStack) else None
    back_to_idle = _back_to_idle(pid, idle, drained_at, progress) if pid is not None and idle else None
    writes = _account(engine, outputs, run_tag, result.accepted, progress)
    try:
        baseline = _baseline(engine, stage, api, run_tag, load, progress) if settings.baseline else None
    finally:
        if not settings.keep_data:
            _delete_run_items(engine, outputs["TableName"], run_tag, progress)
    if not drained:
        notes.append(f"The queue still held messages {BENCH_SETTLE_DEADLINE:g} s after the last write.")
    if floor_cpu and write_cpu and floor.messages and result.accepted:
        floor_ms = 1000 * floor_cpu[0] / floor.messages
        write_engine_ms = 1000 * write_cpu[0] / len(result.accepted)
        write_total_ms = 1000 * write_cpu[1] / len(result.accepted)
        notes.append(
            f"CPU: the engine spent {floor_ms:.2f} ms per raw SendMessage and {write_engine_ms:.2f} ms per accepted "
            f"write ({write_engine_ms / floor_ms:.1f}x); engine + workers {write_total_ms:.2f} ms per accepted "
            f"write, readability polls and the writer included."
        )
    if result.unreadable:
        notes.append(
            f"{len(result.unreadable)} accepted write(s) were not readable within {settings.readable_within:g} s."
        )
    if result.hit_deadline:
        notes.append(f"The run hit its {BENCH_DEADLINE:g} s deadline.")
    figures = EngineFigures(
        cold_starts_ms=cold_starts,
        idle_bytes=None if idle is None else idle.total_bytes,
        idle_processes=None if idle is None else idle.processes,
        back_to_idle_seconds=back_to_idle,
        first_write=first_write,
        baseline=baseline,
        profile=profile,
        lag_sample=settings.lag_sample,
        lag_sampled=result.lag_sampled,
        saves=None if not (saving and saved) else saved["saves"] - saving["saves"],
        save_loop_seconds=None
        if not (saving and saved)
        else saved["snapshot_seconds"] - saving["snapshot_seconds"],
    )
    return _report(
        "bench",
        command,
        started_at,
        engine,
        stage,
        api,
        settings_json={**dataclasses.asdict(settings), "pollers": pollers, "floor_messages": floor_messages},
        result=result,
        writes=writes,
        sampler=sampler,
        floor=Floor(floor.messages, floor.failures, floor.concurrency, floor.seconds, floor.per_second),
        notes=notes,
        engine_figures=figures,
    )


def _first_write(engine: Engine, stage: str, run_tag: str, progress: Progress) -> FirstWrite:
    """Restart the engine as `invoke down` + `invoke up` do, then time the first write against warm ones."""
    if isinstance(engine, MiniStack):
        progress(
            "Restarting the engine (as `invoke down` + `invoke up`) to time the first write after up ..."
        )
        engine.stop()
        engine.start()
    _, outputs, warmed = deploy_and_warm(engine, stage, progress=progress)
    measured = measure_first_write(
        outputs["ProductPurchaseApi"], f"{run_tag}-first", headers=authorization_header(engine, outputs)
    )
    return FirstWrite(
        first_post_ms=1000 * measured.first_post,
        first_lag_ms=1000 * measured.first_lag,
        warm_lag_p50_ms=None if not measured.warm_lags else 1000 * (percentile(measured.warm_lags, 50) or 0),
        warm_lags_ms=tuple(1000 * lag for lag in measured.warm_lags),
        warm_up_seconds=warmed,
    )


def _back_to_idle(pid: int, idle: TreeMemory, since: float, progress: Progress) -> float | None:
    """Seconds from `since` (the queue drained: the burst's work is done) until the burst's surplus workers are
    gone (no more processes than when idle), sampled every 0.5 s for at most BACK_TO_IDLE_DEADLINE; None when that
    did not happen."""
    progress("Waiting for the burst's surplus workers to be reaped ...")
    deadline = since + BACK_TO_IDLE_DEADLINE
    while time.monotonic() < deadline:
        if tree_memory(pid).processes <= idle.processes:
            return time.monotonic() - since
        time.sleep(0.5)
    return None


def _baseline(
    engine: Engine,
    stage: str,
    api: str,
    run_tag: str,
    load: LoadSettings,
    progress: Progress,
) -> Baseline:
    """Alternate rounds on this stack and on the bare pipeline (ours, bare, ours, bare), throughput only."""
    per_round = max(200, load.requests // 4)
    rounds = dataclasses.replace(load, requests=per_round, poll_readability=False)
    ours: list[float] = []
    bare: list[float] = []
    details: list[dict[str, Any]] = []
    with bare_pipeline(engine, stage, progress) as bare_outputs:
        bare_api = bare_outputs["ProductPurchaseApi"]
        # The bare stack has its own user pool: its own token.
        bare_rounds = dataclasses.replace(
            rounds, headers=tuple(authorization_header(engine, bare_outputs).items())
        )
        for round_number in range(BASELINE_ROUNDS):
            for label, url, settings, results in (
                ("this stack", api, rounds, ours),
                ("bare", bare_api, bare_rounds, bare),
            ):
                tag = f"{run_tag}-round{round_number}"
                # Each pipeline's workers are brought up right before its round: idle ones are reaped within
                # seconds, and a round that began with cold spawns would time the engine's process creation.
                _warm_up(url, tag, dataclasses.replace(settings, rate=0.0), 0, progress)
                progress(
                    f"Baseline round {round_number + 1}/{BASELINE_ROUNDS}: {per_round} writes on {label} ..."
                )
                outcome = LoadRun(url, tag, settings).run()
                results.append(rate(len(outcome.accepted), outcome.sending_seconds) or 0.0)
                details.append(
                    {
                        "pipeline": label,
                        "accepted": len(outcome.accepted),
                        "seconds": outcome.sending_seconds,
                        "post_statuses": {str(code): n for code, n in outcome.post_statuses.items()},
                    }
                )
        _delete_run_items(engine, bare_outputs["TableName"], run_tag, progress)
    return Baseline(per_round, tuple(ours), tuple(bare), tuple(details))


def _warm_up(
    api: str,
    run_tag: str,
    load: LoadSettings,
    requests_per_client: int,
    progress: Progress,
) -> None:
    """Bring up the functions' workers before measuring, doubling the clients step by step: a burst of cold
    starts all at once measures the engine's process spawning, not the service."""
    steps = [1]
    while steps[-1] < load.concurrency:
        steps.append(min(2 * steps[-1], load.concurrency))
    per_client = requests_per_client or 2
    progress(
        f"Warming up with {' -> '.join(map(str, steps))} clients, {per_client} writes each (not counted) ..."
    )
    statuses: Counter[int] = Counter()
    for step, clients in enumerate(steps):
        warm = LoadRun(
            api,
            f"{run_tag}-warmup{step}",
            dataclasses.replace(
                load,
                requests=per_client * clients,
                concurrency=clients,
                pollers=min(clients, load.pollers),
                deadline=60,
            ),
        ).run()
        statuses.update(warm.post_statuses)
    if not statuses[202]:
        raise ToolingError(
            f"The API accepted none of the warm-up writes (statuses {dict(statuses)}): is the stack deployed "
            "and healthy? Try `invoke up`, and `invoke logs --function sender`."
        )


def run_soak(
    engine: Engine,
    stage: str,
    *,
    writes: int = DEFAULT_SOAK_WRITES,
    concurrency: int = 16,
    faults: dict[str, str] | None = None,
    keep_data: bool = False,
    command: str,
    progress: Progress = print,
) -> Report:
    """Accept `writes` writes while the writer fails records and crashes on purpose, then check that every one
    is in the table or the DLQ and none was applied twice. The faults are switched off again afterwards."""
    if stage == "prod":
        raise ToolingError("The soak injects faults into the writer: it never runs against prod.")
    if engine.name not in EMULATORS:
        raise ToolingError(
            f"The soak redeploys the stage with faults switched on, which only the local engines allow "
            f"({', '.join(EMULATORS)}), not {engine.name}."
        )
    faults = faults or SOAK_FAULTS
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run_tag = _run_tag()
    progress(f"Redeploying stage {stage} with {_describe(faults)} ...")
    deploy_to_emulator(engine, stage, parameters=faults, progress=progress)
    notes: list[str] = []
    try:
        outputs = reachable_outputs(engine, stage)
        _check_writer_faults(engine, outputs["WriterFunctionName"], faults)
        api = outputs["ProductPurchaseApi"]
        load = LoadSettings(
            requests=writes,
            concurrency=concurrency,
            until_accepted=True,
            idempotent=True,
            max_attempts=5,
            poll_readability=False,
            deadline=SOAK_SEND_DEADLINE,
            headers=tuple(authorization_header(engine, outputs).items()),
        )
        soak_started_ms = int(time.time() * 1000)
        with _memory_sampler(engine) as sampler:
            progress(f"Sending until {writes} writes are accepted, at concurrency {concurrency} ...")
            result = LoadRun(api, run_tag, load, progress=progress).run()
            progress("Waiting for the queue to drain (retries, crashed batches, dead letters) ...")
            settle_started = time.monotonic()
            drained = _wait_for_empty_queue(engine, outputs["QueueUrl"], SOAK_SETTLE_DEADLINE)
            settle_seconds = time.monotonic() - settle_started
        notes.append(
            f"Queue {'drained' if drained else 'NOT drained'} {settle_seconds:.1f} s after the last write was "
            f"accepted; faults: {_describe(faults)}; retried POSTs: {result.retries}."
        )
        accounting = _account(engine, outputs, run_tag, result.accepted, progress)
        evidence = _fault_evidence(engine, outputs["WriterFunctionName"], soak_started_ms)
        if evidence:
            notes.append(f"Faults seen in the writer's log: {evidence}.")
        if result.hit_deadline:
            notes.append(f"Sending hit its {SOAK_SEND_DEADLINE:g} s deadline.")
        if not keep_data:
            _delete_run_items(engine, outputs["TableName"], run_tag, progress)
            removed = _delete_run_dead_letters(
                engine, outputs["DeadLetterQueueUrl"], set(result.accepted.values())
            )
            progress(f"Removed the run's {removed} message(s) from the DLQ.")
        elif accounting.in_dlq:
            notes.append(
                f"{accounting.in_dlq} soak write(s) are in the DLQ; `invoke dlq --redrive` applies them."
            )
        report = _report(
            "soak",
            command,
            started_at,
            engine,
            stage,
            api,
            settings_json={"requests": writes, "concurrency": concurrency, "faults": faults},
            result=result,
            writes=accounting,
            sampler=sampler,
            floor=None,
            notes=notes,
        )
    finally:
        _restore_faults_off(engine, stage, progress)
    return report


def _report(
    kind: str,
    command: str,
    started_at: str,
    engine: Engine,
    stage: str,
    api: str,
    *,
    settings_json: dict[str, Any],
    result: LoadResult,
    writes: WriteAccounting,
    sampler: PeakMemorySampler | None,
    floor: Floor | None,
    notes: list[str],
    engine_figures: EngineFigures | None = None,
) -> Report:
    memory = _memory(sampler)
    post = Distribution.of_seconds(result.post_seconds)
    get = Distribution.of_seconds(result.get_seconds)
    lag = Distribution.of_seconds(result.lags)
    per_second = rate(len(result.accepted), result.sending_seconds)
    return Report(
        kind=kind,
        command=command,
        started_at=started_at,
        machine=machine_info(),
        subject={"engine": engine.name, "stage": stage, "api": api},
        settings=settings_json,
        post=post,
        get=get,
        lag=lag,
        post_statuses={str(code): count for code, count in result.post_statuses.items()},
        get_statuses={str(code): count for code, count in result.get_statuses.items()},
        accepted=len(result.accepted),
        sending_seconds=result.sending_seconds,
        accepted_per_second=per_second,
        writes=writes,
        memory=memory,
        floor=floor,
        # A paced run's throughput is the pace it was given, not a measurement.
        targets=(
            *targets_for(post, lag, None if settings_json.get("rate") else per_second, memory),
            *(engine_targets(engine_figures) if engine_figures else ()),
        )
        if kind == "bench"
        else (),
        notes=tuple(notes),
        cpu=None if sampler is None else sampler.cpu,
        engine_figures=engine_figures,
        samples={
            "post_ms": tuple(round(1000 * value, 2) for value in result.post_seconds),
            "get_ms": tuple(round(1000 * value, 2) for value in result.get_seconds),
            "lag_ms": tuple(round(1000 * value, 2) for value in result.lags),
        },
    )


def _run_tag() -> str:
    return f"bench-{time.strftime('%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _describe(parameters: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(parameters.items()))


# -- where the writes ended up


def _account(
    engine: Engine, outputs: dict[str, Any], run_tag: str, accepted: dict[str, str], progress: Progress
) -> WriteAccounting:
    progress("Accounting for every accepted write (table scan + DLQ) ...")
    items = list(_run_items(engine, outputs["TableName"], run_tag, exact=True))
    dead = [message.body for message in dlq.peek(engine, outputs["DeadLetterQueueUrl"], limit=_DLQ_LIMIT)]
    return account_writes(accepted, items, _message_ids(dead))


def _message_ids(bodies: list[str]) -> list[str]:
    ids = []
    for body in bodies:
        try:
            message = json.loads(body)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            ids.append(message["id"])
    return ids


def _run_items(engine: Engine, table: str, run_tag: str, *, exact: bool) -> Iterator[tuple[str, str]]:
    """(ProductPurchaseId, ProductId) of the run's items: exact tag, or the tag and its warm-up."""
    condition = "CustomerId = :run" if exact else "begins_with(CustomerId, :run)"
    paginator = engine.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        FilterExpression=condition,
        ProjectionExpression="ProductPurchaseId, ProductId",
        ExpressionAttributeValues={":run": {"S": run_tag}},
    ):
        for item in page.get("Items", []):
            yield item["ProductPurchaseId"]["S"], item.get("ProductId", {}).get("S", "")


def _delete_run_items(engine: Engine, table: str, run_tag: str, progress: Progress) -> None:
    """Remove the run's purchases so repeated runs don't fill the table (`--keep` keeps them)."""
    ids = sorted({item_id for item_id, _ in _run_items(engine, table, run_tag, exact=False)})
    remove_items(engine, table, ids, progress)


def _delete_run_dead_letters(engine: Engine, dlq_url: str, ids: set[str]) -> int:
    """Delete the DLQ messages that carry one of the run's writes; any other message is left as it was."""
    return queues.delete_matching(
        engine.client("sqs"), dlq_url, lambda body: bool(set(_message_ids([body])) & ids)
    )


def _wait_for_empty_queue(engine: Engine, queue_url: str, timeout: float) -> bool:
    return queues.wait_until_empty(engine.client("sqs"), queue_url, timeout)


# -- fault switches

# What the writer and the engine log when a fault fires: a record failed on purpose (purchases.faults), and the
# engine's account of a worker that exited mid-batch (MiniStack's wording).
_FAULT_SIGNS = {
    "records failed on purpose": '"on purpose"',
    "writer processes died mid-batch": '"Worker process died"',
}


def _fault_evidence(engine: Engine, function_name: str, since_ms: int) -> str:
    """How often the injected faults fired, from the writer's log (best effort: '' when the log can't be read),
    so a soak that passed without exercising any fault shows it."""
    logs = engine.client("logs")
    found = []
    for label, pattern in _FAULT_SIGNS.items():
        arguments: dict[str, Any] = {
            "logGroupName": f"/aws/lambda/{function_name}",
            "startTime": since_ms,
            "filterPattern": pattern,
        }
        try:
            pages = logs.get_paginator("filter_log_events").paginate(**arguments)
            count = sum(len(page.get("events", [])) for page in pages)
        except ClientError:
            return ""
        found.append(f"{label} {count}")
    return ", ".join(found)


def _writer_fault_settings(engine: Engine, function_name: str) -> dict[str, str]:
    configuration = engine.client("lambda").get_function_configuration(FunctionName=function_name)
    variables: dict[str, str] = configuration.get("Environment", {}).get("Variables", {})
    return {
        "WriterFaultRate": variables.get("WRITER_FAULT_RATE", "0"),
        "WriterCrashRate": variables.get("WRITER_CRASH_RATE", "0"),
    }


def _check_writer_faults(engine: Engine, function_name: str, wanted: dict[str, str]) -> None:
    actual = _writer_fault_settings(engine, function_name)
    if any(float(actual[key]) != float(value) for key, value in wanted.items()):
        raise ToolingError(f"The writer did not get the soak's faults ({_describe(actual)}); not soaking.")


def _restore_faults_off(engine: Engine, stage: str, progress: Progress) -> None:
    """Redeploy without the fault parameters (their defaults are 0), as `invoke up` deploys, so the next `up` has
    nothing to change; should the engine keep the previous values, deploy explicit zeros."""
    progress(f"Switching the faults off again (redeploying stage {stage}) ...")
    deploy_to_emulator(engine, stage, progress=progress)
    writer = reachable_outputs(engine, stage)["WriterFunctionName"]
    if any(float(value) for value in _writer_fault_settings(engine, writer).values()):
        deploy_to_emulator(engine, stage, parameters=NO_FAULTS, progress=progress)
        if any(float(value) for value in _writer_fault_settings(engine, writer).values()):
            raise ToolingError(f"Could not switch the writer's faults off on stage {stage}; redeploy it.")
