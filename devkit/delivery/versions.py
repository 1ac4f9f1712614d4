"""Which published version each function's `live` alias must run: one key per function, passed to the template.

SAM publishes a new version (and moves the alias) only when the version resource's logical id changes. Without
help that id follows the code location and the *unresolved* environment, so a stack parameter that changes a
function's configuration (its environment, timeout, handler) updates `$LATEST` and leaves every caller on the
old version - on AWS too, where even `AutoPublishAliasAllProperties` hashes `{"Ref": ...}` rather than the value.
Each function's `AutoPublishCodeSha256` therefore refers to a template parameter that the tooling fills with a
digest of what the version holds: the code, the function's versioned properties (with the Globals) and the
resolved values of the parameters that reach them. SAM uses that digest as the version's logical id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

FUNCTION_TYPE = "AWS::Serverless::Function"
# Function, alias and event-source settings a published version does not snapshot: changing them needs no new
# version (the event source and the deployment preference act on the alias), so they stay out of the digest.
_UNVERSIONED = frozenset(
    {
        "AutoPublishAlias",
        "AutoPublishAliasAllProperties",
        "AutoPublishCodeSha256",
        "DeploymentPreference",
        "EventInvokeConfig",
        "Events",
        "FunctionUrlConfig",
        "PermissionsBoundary",
        "Policies",
        "ProvisionedConcurrencyConfig",
        "ReservedConcurrentExecutions",
        "RolePath",
        "Tags",
        "VersionDeletionPolicy",
    }
)
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def version_parameter_names(template: Mapping[str, Any]) -> dict[str, str]:
    """Function logical id -> the parameter its `AutoPublishCodeSha256` refers to."""
    parameters = template.get("Parameters", {})
    names = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != FUNCTION_TYPE:
            continue
        reference = resource.get("Properties", {}).get("AutoPublishCodeSha256")
        if isinstance(reference, dict) and reference.get("Ref") in parameters:
            names[logical_id] = reference["Ref"]
    return names


def resolved_parameters(
    template: Mapping[str, Any], values: Mapping[str, str], previous: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every parameter's value as CloudFormation will see it: the value given, else the stack's current one
    (what `sam deploy` keeps with UsePreviousValue), else the template's default."""
    previous = previous or {}
    resolved = {}
    for name, declaration in template.get("Parameters", {}).items():
        if name in values:
            resolved[name] = str(values[name])
        elif name in previous:
            resolved[name] = str(previous[name])
        elif "Default" in declaration:
            resolved[name] = str(declaration["Default"])
    return resolved


def parameters_reaching(template: Mapping[str, Any], function_id: str) -> set[str]:
    """The template parameters a function's versioned properties refer to, directly or through conditions."""
    nodes = [
        _versioned(template.get("Globals", {}).get("Function", {})),
        _versioned(_properties(template, function_id)),
    ]
    refs, _ = _reach(template, nodes)
    return refs & set(template.get("Parameters", {}))


def version_keys(
    template: Mapping[str, Any],
    values: Mapping[str, str],
    code_digests: Mapping[str, str],
    *,
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The value of each function's version parameter (a SHA-256 in hex): it changes when the function's code
    (`code_digests[function]`), versioned properties or a parameter value reaching them changes, and only then."""
    names = version_parameter_names(template)
    own = set(names.values())
    resolved = {
        name: value
        for name, value in resolved_parameters(template, values, previous).items()
        if name not in own
    }
    conditions = template.get("Conditions", {})
    globals_ = _versioned(template.get("Globals", {}).get("Function", {}))
    keys = {}
    for function_id, parameter in names.items():
        properties = _versioned(_properties(template, function_id))
        refs, used_conditions = _reach(template, [globals_, properties])
        reaching = refs & set(resolved)
        document = {
            "code": code_digests[function_id],
            "globals": globals_,
            "properties": properties,
            "conditions": {name: conditions[name] for name in sorted(used_conditions) if name in conditions},
            "parameters": {name: resolved.get(name) for name in sorted(reaching)},
        }
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
        keys[parameter] = hashlib.sha256(canonical.encode()).hexdigest()
    return keys


def directory_digest(folder: Path) -> str:
    """A digest of a folder's files (relative paths and contents, not times): what `sam deploy` zips and uploads
    for a function, and what its S3 key is a checksum of."""
    digest = hashlib.sha256()
    for path in sorted(item for item in folder.rglob("*") if item.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def stack_parameter_values(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's current parameter values ({} when there is no such stack)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return {}
        raise
    return {
        item["ParameterKey"]: item.get("ParameterValue", "")
        for item in (stacks[0].get("Parameters", []) if stacks else [])
    }


def _properties(template: Mapping[str, Any], function_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][function_id].get("Properties", {})
    return properties


def _versioned(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if key not in _UNVERSIONED}


def _reach(template: Mapping[str, Any], nodes: list[Any]) -> tuple[set[str], set[str]]:
    """(names referred to, conditions used) by `nodes` and by the conditions they use, transitively."""
    conditions = template.get("Conditions", {})
    refs: set[str] = set()
    used: set[str] = set()
    pending = list(nodes)
    while pending:
        found_refs, found_conditions = _references(pending.pop())
        refs |= found_refs
        for name in found_conditions - used:
            used.add(name)
            if name in conditions:
                pending.append(conditions[name])
    return refs, used


def _references(node: Any) -> tuple[set[str], set[str]]:
    """(names referred to by Ref / Fn::Sub, condition names used by Fn::If / Condition) anywhere in `node`."""
    refs: set[str] = set()
    conditions: set[str] = set()
    for key, value in _walk(node):
        if key == "Ref" and isinstance(value, str):
            refs.add(value)
        elif key == "Fn::Sub":
            text = value[0] if isinstance(value, list) and value else value
            local = (
                set(value[1])
                if isinstance(value, list) and len(value) > 1 and isinstance(value[1], dict)
                else set()
            )
            if isinstance(text, str):
                refs |= {name.split(".")[0] for name in _SUB_VARIABLE.findall(text)} - local
        elif key == "Fn::If" and isinstance(value, list) and value and isinstance(value[0], str):
            conditions.add(value[0])
        elif key == "Condition" and isinstance(value, str):
            conditions.add(value)
    return refs, conditions


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
