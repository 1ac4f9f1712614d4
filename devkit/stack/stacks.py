"""What a deployed stack holds, asked of any engine: used by the deploy and by an engine checking its own state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from devkit.core.project import ToolingError

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
