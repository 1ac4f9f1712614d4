"""Warm start: bring up each function's worker once, harmlessly, so the first real request after `invoke up` finds
one that has already imported its code and built its clients (on MiniStack a cold worker costs a process spawn plus
~0.2 s of imports, and the first write would wait for two of them: the sender's and the writer's).

The reader is warmed through the API with a read (it lists one purchase); the sender by a direct invoke, through
its live alias, with the warm-up event of `purchases.warm_up`; the writer by one queued message with that event as
its body, which it acknowledges without doing anything (see `purchases.warm_up`).
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from devkit import queues
from devkit.auth import authorization_header
from devkit.deploy import DeployResult, deploy_to_emulator
from devkit.engines import Engine
from devkit.http import call
from devkit.outputs import reachable_outputs
from devkit.project import HANDLERS, ToolingError
from devkit.template import load_template
from devkit.waiting import wait_for


def _warm_up_event() -> dict[str, Any]:
    """The event the handlers recognize, read from their own module (the tooling does not import handler code)."""
    spec = importlib.util.spec_from_file_location("warm_up", HANDLERS / "purchases" / "warm_up.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event: dict[str, Any] = dict(module.WARM_UP_EVENT)
    return event


def _timed(what: str, attempt: Any) -> tuple[str, float]:
    started = time.perf_counter()
    attempt()
    return what, time.perf_counter() - started


def warm_up(
    engine: Engine, outputs: dict[str, Any], *, headers: dict[str, str] | None = None
) -> dict[str, float]:
    """Warm the three functions at once; returns the seconds each took (its cold start, seen from outside).
    `headers` go with the API requests (e.g. an Authorization header)."""
    api = outputs["ProductPurchaseApi"]
    event = _warm_up_event()
    alias = load_template().get("Globals", {}).get("Function", {}).get("AutoPublishAlias")

    def reader() -> None:
        reply = call("GET", f"{api}?limit=1", headers=headers, timeout=30)
        if reply.status != 200:
            raise ToolingError(f"Warming the reader: GET answered {reply.status} {reply.body[:200]!r}")

    def invoke(function: str) -> None:
        name = outputs[function]
        # The API and the queue call the function through its alias (AutoPublishAlias), and the engine keeps warm
        # workers per qualifier: warm the one real requests will use.
        qualifier = {"Qualifier": alias} if alias and _has_alias(engine, name, alias) else {}
        answer = engine.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps(event).encode(), **qualifier
        )
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            raise ToolingError(
                f"Warming {outputs[function]}: it failed on the warm-up event: {payload[:300]!r}"
            )

    def sender() -> None:
        invoke("SenderFunctionName")

    def writer() -> None:
        # Through the queue: the engine keeps workers per qualifier, and after a restart its event source mapping
        # uses a different one than an alias invoke (measured: a second, cold worker for the first real write).
        sqs = engine.client("sqs")
        sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=json.dumps(event))
        if not queues.wait_until_empty(sqs, outputs["QueueUrl"], timeout=30, interval=0.05):
            raise ToolingError("Warming the writer: its warm-up message was not consumed within 30 s.")

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(_timed, name, job)
            for name, job in (("reader", reader), ("sender", sender), ("writer", writer))
        ]
        return dict(future.result() for future in futures)


def _has_alias(engine: Engine, function: str, alias: str) -> bool:
    try:
        engine.client("lambda").get_alias(FunctionName=function, Name=alias)
    except ClientError:
        return False
    return True


def deploy_and_warm(
    engine: Engine, stage: str, *, progress: Callable[[str], None]
) -> tuple[DeployResult, dict[str, Any], dict[str, float]]:
    """What `invoke up` does once the engine runs: deploy what changed, wait for the API (with the development
    client's token), warm the functions."""
    result = deploy_to_emulator(engine, stage, progress=progress)
    values = reachable_outputs(engine, stage)
    api = values["ProductPurchaseApi"]
    headers = authorization_header(engine, values)
    wait_for(
        lambda: call("GET", f"{api}?limit=1", headers=headers).status == 200,
        timeout=30,
        what="the API to answer",
    )
    return result, values, warm_up(engine, values, headers=headers)
