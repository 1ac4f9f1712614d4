"""The benchmark's baseline: the same template deployed beside the stack with bare handlers (plain boto3, no
validation, idempotency, ordering or Powertools), loaded in the same run, alternating with the stack, so the report
can say what share of the engine's ceiling for this pipeline the service reaches."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from devkit.core.project import stack_name
from devkit.core.template import load_template
from devkit.delivery.deploy import delete_stack, deploy_to_emulator
from devkit.delivery.packaging import build_bundle
from devkit.delivery.warm import warm_up
from devkit.engines import Engine
from devkit.stack.auth import authorization_header
from devkit.stack.outputs import reachable_outputs
from devkit.stack.stacks import stack_functions

BARE_HANDLERS = Path(__file__).with_name("bare_handlers")


def baseline_stack(stage: str) -> str:
    return f"{stack_name(stage)}-bare"


def bare_template() -> dict[str, Any]:
    """Our template, with the one name that is unique per stage and account (the user pool's domain) made its own,
    so both stacks can run in one engine, and the writer's plain entry point (the bare handlers have no test
    hooks)."""
    template = load_template(inline_includes=True)
    writer = template.get("Resources", {}).get("WriterFunction", {}).get("Properties")
    if writer is not None:
        writer["Handler"] = "writer.lambda_handler"
    domain = template.get("Resources", {}).get("UserPoolDomain", {}).get("Properties")
    if domain is not None:
        domain["Domain"] = {"Fn::Sub": "purchases-bare-${StageName}-${AWS::AccountId}"}
    return template


@contextlib.contextmanager
def bare_pipeline(engine: Engine, stage: str, progress: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Deploy the bare pipeline, yield its outputs, then delete it and its (retained) table."""
    name = baseline_stack(stage)
    progress(f"Deploying the bare baseline as {name} ...")
    bundle = build_bundle(with_dependencies=engine.bundles_dependencies, source=BARE_HANDLERS)
    deploy_to_emulator(engine, stage, progress=progress, name=name, bundle=bundle, template=bare_template())
    outputs = reachable_outputs(engine, stage, stack=name)
    try:
        warm_up(engine, outputs, headers=authorization_header(engine, outputs))
        yield outputs
    finally:
        progress(f"Deleting {name} ...")
        # Through the Lambda API first: MiniStack's DeleteFunction stops the function's warm workers, its
        # CloudFormation stack deletion does not (measured: 25 bare workers, ~1.2 GB, outlived the stack).
        for function in stack_functions(engine, name).values():
            with contextlib.suppress(ClientError):
                engine.client("lambda").delete_function(FunctionName=function)
        delete_stack(engine, name)
        with contextlib.suppress(ClientError):
            engine.client("dynamodb").delete_table(TableName=outputs["TableName"])
