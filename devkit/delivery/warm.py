"""Warm start: bring up each function's worker once, harmlessly, so the first real request after `invoke up` finds
one that has already imported its code and built its clients (on MiniStack a cold worker costs a process spawn plus
~0.2 s of imports, and the first write would wait for two of them: the sender's and the writer's).

The reader is warmed through the API with a read (it lists one purchase); the sender by a direct invoke, through
its live alias, of a CORS preflight its router answers itself (no AWS call, and not a purchase accepted or
rejected); the writer by one queued warm-up message, which the test stages' writer entry point drops before
processing the batch (see `purchases.warm_up`). A writer without that entry point (a local prod stage) is not warmed.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from devkit.core.http import call
from devkit.core.project import HANDLERS, ToolingError
from devkit.core.template import load_template
from devkit.core.waiting import wait_for
from devkit.delivery.deploy import DeployResult, deploy_to_emulator
from devkit.engines import Engine
from devkit.stack import queues
from devkit.stack.auth import authorization_header
from devkit.stack.outputs import reachable_outputs


def _warm_up_body() -> str:
    """The writer's warm-up message, read from the handlers' own module (the tooling does not import handler code)."""
    spec = importlib.util.spec_from_file_location("warm_up", HANDLERS / "purchases" / "warm_up.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.WARM_UP_BODY)


# The entry point that acknowledges the warm-up message (the template chooses it for test stages).
WRITER_WITH_HOOKS = "writer_with_hooks.lambda_handler"


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
    alias = load_template().get("Globals", {}).get("Function", {}).get("AutoPublishAlias")

    def reader() -> None:
        reply = call("GET", f"{api}?limit=1", headers=headers, timeout=30)
        if reply.status != 200:
            raise ToolingError(f"Warming the reader: GET answered {reply.status} {reply.body[:200]!r}")

    def sender() -> None:
        from devkit.stack.events import preflight_event

        name = outputs["SenderFunctionName"]
        # The API and the queue call the function through its alias (AutoPublishAlias), and the engine keeps warm
        # workers per qualifier: warm the one real requests will use.
        qualifier = {"Qualifier": alias} if alias and _has_alias(engine, name, alias) else {}
        answer = engine.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps(preflight_event()).encode(), **qualifier
        )
        payload = answer["Payload"].read()
        if answer.get("FunctionError") or json.loads(payload or b"{}").get("statusCode") != 204:
            raise ToolingError(
                f"Warming {name}: it did not answer a CORS preflight with 204: {payload[:300]!r}"
            )

    def writer() -> None:
        # Through the queue: the engine keeps workers per qualifier, and after a restart its event source mapping
        # uses a different one than an alias invoke (measured: a second, cold worker for the first real write).
        sqs = engine.client("sqs")
        sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=_warm_up_body())
        if not queues.wait_until_empty(sqs, outputs["QueueUrl"], timeout=30, interval=0.05):
            raise ToolingError("Warming the writer: its warm-up message was not consumed within 30 s.")

    configuration = engine.client("lambda").get_function_configuration(
        FunctionName=outputs["WriterFunctionName"]
    )
    jobs = [("reader", reader), ("sender", sender)]
    if configuration.get("Handler") == WRITER_WITH_HOOKS:
        jobs.append(("writer", writer))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_timed, name, job) for name, job in jobs]
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
