"""What a deployed stack holds, asked of any engine: used by the deploy and by an engine checking its own state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from devkit.project import ToolingError

if TYPE_CHECKING:
    from devkit.engines import Engine


def describe_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None when there is none (deleted counts as none)."""
    try:
        stack: dict[str, Any] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def stack_statuses(engine: Engine) -> list[tuple[str, str]]:
    """The name and status of every stack the engine holds."""
    stacks = engine.client("cloudformation").describe_stacks().get("Stacks", [])
    return [(stack["StackName"], stack["StackStatus"]) for stack in stacks]


def missing_resources(engine: Engine, name: str) -> list[str]:
    """The stack's table, queues and functions that CloudFormation lists but the engine does not have (an
    emulator whose saved state lost a service's file comes back with the stack and without its resources)."""
    resources = engine.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"]
    checks: dict[str, tuple[str, str, str]] = {
        "AWS::DynamoDB::Table": ("dynamodb", "describe_table", "TableName"),
        "AWS::SQS::Queue": ("sqs", "get_queue_attributes", "QueueUrl"),
        "AWS::Lambda::Function": ("lambda", "get_function_configuration", "FunctionName"),
    }
    missing = []
    for resource in resources:
        if resource["ResourceType"] not in checks:
            continue
        service, operation, parameter = checks[resource["ResourceType"]]
        physical = resource.get("PhysicalResourceId", "")
        try:
            getattr(engine.client(service), operation)(**{parameter: engine.reachable_url(physical)})
        except ClientError:
            missing.append(f"{resource['LogicalResourceId']} ({physical})")
    return missing


def check_stack_intact(engine: Engine, name: str) -> None:
    """A ToolingError naming what is missing when the engine lost part of a stack it says exists."""
    missing = missing_resources(engine, name)
    if missing:
        raise ToolingError(
            f"The engine says stack {name} exists, but it has no {', '.join(missing)}: its saved state is "
            "damaged or incomplete. `invoke up --restore` puts back the last good backup of the local state; "
            "`invoke up --fresh` starts empty (local data is lost)."
        )


def stack_functions(engine: Engine, name: str) -> dict[str, str]:
    """Logical id -> physical name of the stack's Lambda functions."""
    resources = engine.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"]
    return {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::Lambda::Function"
    }


def function_named(engine: Engine, stack: str, function: str) -> str:
    """The physical name of the stack's function `function` (sender, reader, writer, ...: its logical id without
    `Function`, lower case); a ToolingError naming the stack's functions for any other name."""
    functions = stack_functions(engine, stack)
    logical = f"{function.capitalize()}Function"
    if logical not in functions:
        known = sorted(name.removesuffix("Function").lower() for name in functions)
        raise ToolingError(f"Unknown function {function!r}: choose one of {', '.join(known)}.")
    return functions[logical]
