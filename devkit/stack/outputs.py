"""The stack's outputs as a program on this host needs them: URLs it can reach, plus which engine and stage."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from devkit.core.project import ToolingError, stack_name
from devkit.engines import Engine

_URL_OUTPUTS = (
    "ProductPurchaseApi",
    "CustomDomainUrl",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "TokenUrl",
    "WebSocketUrl",
)


def raw_outputs(engine: Engine, stage: str, *, stack: str | None = None) -> dict[str, str]:
    name = stack or stack_name(stage)
    try:
        stacks = engine.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except NoRegionError:
        raise ToolingError(
            "No AWS region set: set AWS_DEFAULT_REGION (or a region in your AWS profile)."
        ) from None
    except NoCredentialsError:
        raise ToolingError(
            "No AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE."
        ) from None
    except ClientError as error:
        if "does not exist" in str(error):
            hint = "`invoke up`" if engine.name != "aws" else f"`invoke deploy --stage {stage}`"
            raise ToolingError(f"Stack {name} is not deployed on {engine.name}: run {hint} first.") from None
        raise
    except EndpointConnectionError as error:
        raise ToolingError(f"{engine.name} is not answering ({error}): run `invoke up` first.") from None
    return {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}


def reachable_outputs(engine: Engine, stage: str, *, stack: str | None = None) -> dict[str, Any]:
    """The outputs of the stage's stack (or of `stack`), with URLs this host can reach."""
    outputs: dict[str, Any] = raw_outputs(engine, stage, stack=stack)
    for key in _URL_OUTPUTS:
        if key in outputs:
            outputs[key] = engine.reachable_url(outputs[key])
    outputs.update(
        Stage=stage,
        Engine=engine.name,
        StackName=stack or stack_name(stage),
        Region=engine.session().region_name,
    )
    endpoint = engine.endpoint_url()
    if endpoint:
        outputs["EndpointUrl"] = endpoint
    return outputs
