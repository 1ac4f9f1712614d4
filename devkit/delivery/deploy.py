"""Deploying the one template to an emulator: package the handlers, send the template to CloudFormation, and on
a repeat run push only what changed (a code-only change updates the functions in place and keeps the API URL)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from devkit.core.project import ToolingError, stack_name
from devkit.core.template import dump_template, load_template, with_parameter_defaults
from devkit.core.waiting import DeadlineExceeded, wait_for
from devkit.delivery.packaging import CodeBundle, build_bundle
from devkit.delivery.versions import version_keys, version_parameter_names
from devkit.engines import Engine
from devkit.engines.emulator import TEST_ONLY_PARAMETERS, check_stack_intact
from devkit.stack.stacks import describe_stack, stack_functions

ARTIFACT_BUCKET = "product-purchase-artifacts"
FINGERPRINT_TAG = "devkit:template-sha256"
STACK_TIMEOUT = 300.0
_FAILED = ("FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DeployResult:
    stack_name: str
    action: str  # "created", "updated", "code updated", "unchanged"


def local_stage_parameters(engine: Engine, stage: str) -> dict[str, str]:
    """The engine's parameters for a local stage; the test-only hooks are left out of prod, which refuses them."""
    values = engine.stage_parameters()
    return {key: value for key, value in values.items() if stage != "prod" or key not in TEST_ONLY_PARAMETERS}


def deploy_to_emulator(
    engine: Engine,
    stage: str,
    *,
    parameters: dict[str, str] | None = None,
    progress: Progress = print,
    name: str | None = None,
    bundle: CodeBundle | None = None,
    template: dict[str, Any] | None = None,
) -> DeployResult:
    """Deploy the template as the stage's stack; `name`, `bundle` and `template` deploy it under another name with
    other code and a template derived from ours (the benchmark's bare baseline)."""
    name = name or stack_name(stage)
    bundle = bundle or build_bundle(with_dependencies=engine.bundles_dependencies)
    values = {"StageName": stage, **local_stage_parameters(engine, stage), **(parameters or {})}
    source = template or load_template(inline_includes=True)
    # The fingerprint leaves the code out (a code-only change is pushed to the functions directly), so it is
    # taken before the version keys, which hold the code's digest.
    fingerprint = _fingerprint(with_parameter_defaults(source, values), values)
    values |= version_keys(source, values, dict.fromkeys(version_parameter_names(source), bundle.sha256))
    template = with_parameter_defaults(source, values)
    cloudformation = engine.client("cloudformation")
    stack = describe_stack(cloudformation, name)
    if stack and _is_settled(stack) and _tag(stack, FINGERPRINT_TAG) == fingerprint:
        check_stack_intact(engine, name)
        changed = push_code(engine, name, bundle)
        result = DeployResult(name, "code updated" if changed else "unchanged")
    else:
        code_key = _upload(engine, f"handlers/{bundle.sha256}.zip", bundle.data)
        body = dump_template(_with_code_location(template, ARTIFACT_BUCKET, code_key)).encode()
        # From S3, as `sam deploy` sends it: a TemplateBody may hold 51,200 bytes, a TemplateURL 1 MB.
        template_key = _upload(engine, f"templates/{hashlib.sha256(body).hexdigest()}.json", body)
        arguments: dict[str, Any] = {
            "StackName": name,
            "TemplateURL": f"{engine.endpoint_url()}/{ARTIFACT_BUCKET}/{template_key}",
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Tags": [{"Key": FINGERPRINT_TAG, "Value": fingerprint}],
        }
        if stack and not _is_settled(stack):
            progress(f"Stack {name} is {stack['StackStatus']}: deleting it first.")
            delete_stack(engine, name)
            stack = None
        progress(f"{'Updating' if stack else 'Creating'} stack {name} ...")
        if stack:
            cloudformation.update_stack(**arguments)
        else:
            cloudformation.create_stack(**arguments)
        _wait_settled(cloudformation, name)
        result = DeployResult(name, "updated" if stack else "created")
    engine.after_deploy(name)
    return result


def apply_template(
    engine: Engine, name: str, body: str, parameters: dict[str, str], *, progress: Progress = print
) -> str:
    """Create or update a plain CloudFormation stack (no code to package) and wait; returns what happened."""
    cloudformation = engine.client("cloudformation")
    stack = describe_stack(cloudformation, name)
    if stack and not _is_settled(stack):
        raise ToolingError(
            f"Stack {name} is {stack['StackStatus']}: delete it (`aws cloudformation delete-stack`) and retry."
        )
    arguments: dict[str, Any] = {
        "StackName": name,
        "TemplateBody": body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
        # The bootstrap names its managed policies (product-purchase-<stage>-boundary, ...): named IAM resources.
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    }
    progress(f"{'Updating' if stack else 'Creating'} stack {name} ...")
    if not stack:
        cloudformation.create_stack(**arguments)
    else:
        try:
            cloudformation.update_stack(**arguments)
        except ClientError as error:
            if "No updates are to be performed" in str(error):
                return "unchanged"
            raise
    _wait_settled(cloudformation, name)
    return "updated" if stack else "created"


# An emulator finishes a code update within a second (MiniStack: 0.5 s); the waiter's default of a check per
# second made every push wait a whole second per function, most of `up --watch`'s save-to-live time.
_UPDATE_CHECKS = {"Delay": 0.1, "MaxAttempts": 600}


def push_code(engine: Engine, name: str, bundle: CodeBundle | None = None) -> list[str]:
    """Make every function of the stack serve the code in handlers/; returns the functions updated.

    Callers reach the functions through their aliases (AutoPublishAlias), which point at published versions, so
    updating $LATEST alone would change nothing they see: the new code is published as a version and every alias
    of the function is moved to it, as a stack deploy with GradualDeployment=false would do.
    """
    bundle = bundle or build_bundle(with_dependencies=engine.bundles_dependencies)
    lambda_client = engine.client("lambda")
    updated = []
    for function in stack_functions(engine, name).values():
        aliases = [
            alias["Name"]
            for page in lambda_client.get_paginator("list_aliases").paginate(FunctionName=function)
            for alias in page["Aliases"]
        ]
        served = [f"{function}:{alias}" for alias in aliases] or [function]
        if all(
            lambda_client.get_function_configuration(FunctionName=qualified)["CodeSha256"]
            == bundle.lambda_sha256
            for qualified in served
        ):
            continue
        if (
            lambda_client.get_function_configuration(FunctionName=function)["CodeSha256"]
            != bundle.lambda_sha256
        ):
            lambda_client.update_function_code(FunctionName=function, ZipFile=bundle.data)
            lambda_client.get_waiter("function_updated_v2").wait(
                FunctionName=function, WaiterConfig=_UPDATE_CHECKS
            )
        if aliases:
            version = lambda_client.publish_version(FunctionName=function, CodeSha256=bundle.lambda_sha256)[
                "Version"
            ]
            for alias in aliases:
                lambda_client.update_alias(FunctionName=function, Name=alias, FunctionVersion=version)
        updated.append(function)
    return updated


def delete_stack(engine: Engine, name: str) -> bool:
    """Delete the stack and wait; False when there was none."""
    cloudformation = engine.client("cloudformation")
    if describe_stack(cloudformation, name) is None:
        return False
    cloudformation.delete_stack(StackName=name)
    wait_for(
        lambda: describe_stack(cloudformation, name) is None,
        timeout=STACK_TIMEOUT,
        interval=0.2,
        what=f"{name} deleted",
    )
    return True


def _fingerprint(template: dict[str, Any], parameters: dict[str, str]) -> str:
    """What the stack is built from, minus the code (a code change is pushed to the functions directly)."""
    canonical = json.dumps([template, parameters], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _with_code_location(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    result = copy.deepcopy(template)
    location = {"Bucket": bucket, "Key": key}
    if "CodeUri" in result.get("Globals", {}).get("Function", {}):
        result["Globals"]["Function"]["CodeUri"] = location
    for resource in result.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in resource.get(
            "Properties", {}
        ):
            resource["Properties"]["CodeUri"] = location
    return result


def _upload(engine: Engine, key: str, data: bytes) -> str:
    """Put `data` at `key` in the engine's artifacts bucket (created on first use); returns the key."""
    s3 = engine.client("s3")
    try:
        s3.head_bucket(Bucket=ARTIFACT_BUCKET)
    except ClientError:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=data)
    return key


def _is_settled(stack: dict[str, Any]) -> bool:
    status: str = stack["StackStatus"]
    return status.endswith("_COMPLETE") and not any(marker in status for marker in _FAILED)


def _tag(stack: dict[str, Any], key: str) -> str | None:
    return next((tag["Value"] for tag in stack.get("Tags", []) if tag["Key"] == key), None)


def _wait_settled(cloudformation: Any, name: str) -> None:
    def settled() -> dict[str, Any] | None:
        stack = describe_stack(cloudformation, name)
        return stack if stack and not stack["StackStatus"].endswith("_IN_PROGRESS") else None

    try:
        stack = wait_for(settled, timeout=STACK_TIMEOUT, interval=0.1, what=f"stack {name}")
    except DeadlineExceeded as error:
        raise ToolingError(f"{error} The engine may be overloaded; see its log (`invoke logs`).") from None
    if not _is_settled(stack):
        raise ToolingError(
            f"Deploying {name} failed ({stack['StackStatus']}):\n{_failure_reasons(cloudformation, name)}"
        )


def _failure_reasons(cloudformation: Any, name: str) -> str:
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [
        f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if "FAILED" in event["ResourceStatus"]
    ]
    return "\n".join(reasons[:10]) or "  (the engine gave no reason; see its log)"
