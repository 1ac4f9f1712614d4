"""Work-arounds for MiniStack's known gaps, applied after each deploy.

MiniStack imports a REST API's OpenAPI body without the OPTIONS mock integration's responses, so SAM's CORS
preflight answers 200 with no `Access-Control-*` headers, and it drops the API's gateway responses. The deployed
stack's processed template still holds both, so we read them from there and apply them through the API Gateway API,
exactly as API Gateway would have. AWS and LocalStack need none of this.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from devkit.engines.emulator import Emulator
from devkit.engines.ministack.state import state_files


def _processed_template(engine: Emulator, stack_name: str) -> dict[str, Any]:
    body = engine.client("cloudformation").get_template(StackName=stack_name, TemplateStage="Processed")[
        "TemplateBody"
    ]
    template: dict[str, Any] = json.loads(body) if isinstance(body, str) else body
    return template


def _rest_api_bodies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]["Body"]
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::ApiGateway::RestApi" and "Body" in resource.get("Properties", {})
    }


def add_cors_to_preflight(engine: Emulator, stack_name: str) -> None:
    apigateway = engine.client("apigateway")
    cloudformation = engine.client("cloudformation")
    for logical_id, body in _rest_api_bodies(_processed_template(engine, stack_name)).items():
        api_id = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
        changed = _apply_preflight_responses(apigateway, api_id, body) | _apply_gateway_responses(
            apigateway, api_id, body
        )
        if changed:
            for stage in apigateway.get_stages(restApiId=api_id)["item"]:
                apigateway.create_deployment(restApiId=api_id, stageName=stage["stageName"])


def _apply_preflight_responses(apigateway: Any, api_id: str, body: dict[str, Any]) -> bool:
    resources = {
        item["path"]: item for item in apigateway.get_resources(restApiId=api_id, limit=500)["items"]
    }
    changed = False
    for path, operations in body.get("paths", {}).items():
        integration = operations.get("options", {}).get("x-amazon-apigateway-integration", {})
        wanted = integration.get("responses", {}).get("default")
        resource = resources.get(path)
        if not wanted or resource is None or "OPTIONS" not in resource.get("resourceMethods", {}):
            continue
        current = apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="OPTIONS")
        if current["methodIntegration"].get("integrationResponses"):
            continue
        status = str(wanted.get("statusCode", "200"))
        parameters: dict[str, str] = wanted.get("responseParameters", {})
        apigateway.put_method_response(
            restApiId=api_id,
            resourceId=resource["id"],
            httpMethod="OPTIONS",
            statusCode=status,
            responseParameters=dict.fromkeys(parameters, False),
        )
        apigateway.put_integration_response(
            restApiId=api_id,
            resourceId=resource["id"],
            httpMethod="OPTIONS",
            statusCode=status,
            responseParameters=parameters,
            responseTemplates=wanted.get("responseTemplates", {}),
        )
        changed = True
    return changed


def _apply_gateway_responses(apigateway: Any, api_id: str, body: dict[str, Any]) -> bool:
    wanted: dict[str, dict[str, Any]] = body.get("x-amazon-apigateway-gateway-responses", {})
    present = {
        item["responseType"]
        for item in apigateway.get_gateway_responses(restApiId=api_id)["items"]
        if not item.get("defaultResponse", False)
    }
    missing = {name: spec for name, spec in wanted.items() if name not in present}
    for response_type, spec in missing.items():
        arguments: dict[str, Any] = {
            "restApiId": api_id,
            "responseType": response_type,
            "responseParameters": spec.get("responseParameters", {}),
            "responseTemplates": spec.get("responseTemplates", {}),
        }
        if "statusCode" in spec:
            arguments["statusCode"] = str(spec["statusCode"])
        apigateway.put_gateway_response(**arguments)
    return bool(missing)


def fix_event_source_scaling(engine: Emulator, stack_name: str) -> None:
    """MiniStack's CloudFormation keeps an event source mapping's ScalingConfig as given, so a MaximumConcurrency
    taken from a template parameter stays a string and its SQS poller fails on every pass ('>=' between int and
    str): the writer never runs. Setting it again through the Lambda API stores a number."""
    lambda_client = engine.client("lambda")
    cloudformation = engine.client("cloudformation")
    for resource in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]:
        if resource["ResourceType"] != "AWS::Lambda::EventSourceMapping":
            continue
        mapping = lambda_client.get_event_source_mapping(UUID=resource["PhysicalResourceId"])
        limit = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
        if limit is not None:
            lambda_client.update_event_source_mapping(
                UUID=resource["PhysicalResourceId"], ScalingConfig={"MaximumConcurrency": int(limit)}
            )


def forget_stream_positions(state_folder: Path) -> bool:
    """MiniStack saves each DynamoDB stream mapping's read position but not the stream's records: after a restart
    the stream starts again at 0 while the mapping waits at its old position, so the first N changes are silently
    never delivered. Dropping the saved positions (before the engine starts) makes each mapping start from its
    StartingPosition again; the template's TRIM_HORIZON then reads the new stream from its first record.
    Returns whether anything was dropped."""
    path = state_folder / "lambda.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    payload = document.get("payload", document) if isinstance(document, dict) else None
    positions = payload.get("dynamodb_stream_positions") if isinstance(payload, dict) else None
    if not isinstance(positions, dict) or not positions.get("data"):
        return False
    positions["data"] = {}
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document))
    partial.replace(path)
    return True


# What the stack stores, not descriptions of the engine's resources: table items, queued message bodies and the
# functions' past log lines keep whatever text they were given.
_DATA_FILES = frozenset({"dynamodb.json", "cloudwatch_logs.json"})
_DATA_KEYS = frozenset({"messages"})


def move_engine_urls(state_folder: Path, old_port: int, new_port: int) -> list[str]:
    """MiniStack builds the URLs it hands out (queue URLs, WebSocket API endpoints, stack outputs and physical ids,
    and so the functions' QUEUE_URL-style environment) from the port it runs on, saves them, and looks queues up by
    them: restarted on another port, it keeps answering with the old URLs, and the writer's queue is never polled
    again. Rewriting `127.0.0.1:OLD` / `localhost:OLD` in the saved resources (before the engine starts) makes
    every URL follow the port. Stored data is left as it is. Returns the names of the files changed."""
    engine_url = re.compile(rf"(?<=[/.])(127\.0\.0\.1|localhost):{old_port}(?!\d)")

    def moved(value: object) -> object:
        if isinstance(value, str):
            return engine_url.sub(rf"\g<1>:{new_port}", value)
        if isinstance(value, list):
            return [moved(item) for item in value]
        if isinstance(value, dict):
            return {moved(key): item if key in _DATA_KEYS else moved(item) for key, item in value.items()}
        return value

    changed = []
    for path in state_files(state_folder):
        if path.name in _DATA_FILES:
            continue
        text = path.read_text()
        if not engine_url.search(text):
            continue
        document = json.loads(text)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(moved(document)))
        partial.replace(path)
        changed.append(path.name)
    return changed
