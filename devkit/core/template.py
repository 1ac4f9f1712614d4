"""Reading the CloudFormation template the way CloudFormation reads it, for tools that send it themselves.

`sam deploy` uploads local `AWS::Include` snippets to S3 on its own; the local deploy and the template tests have
no bucket in between, so `load_template(inline_includes=True)` puts each local snippet in place instead.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from devkit.core.project import TEMPLATE

_INCLUDE_TRANSFORM = "AWS::Include"
_REMOTE_PREFIXES = ("s3://", "https://", "http://")


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus the short-form intrinsic tags, without touching yaml.SafeLoader itself
    (samtranslator's own `yaml_parse` registers its constructor on the global SafeLoader)."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    """CloudFormation keeps an unquoted 2010-09-09 a string; PyYAML would make it a date JSON cannot carry."""
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CloudFormationLoader.add_multi_constructor("!", intrinsics_multi_constructor)
_CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def parse_template(text: str) -> Any:
    """Parse CloudFormation YAML (or JSON) text; short-form tags such as `!Ref` become their long forms."""
    return yaml.load(text, Loader=_CloudFormationLoader)


def load_template(path: Path = TEMPLATE, *, inline_includes: bool = False) -> dict[str, Any]:
    """The template at `path` as plain dicts and lists.

    With `inline_includes`, every `Fn::Transform` of `AWS::Include` whose Location is a local path (relative to
    the template's folder) is replaced by that file's parsed content; S3 and HTTP locations are left alone.
    """
    template = parse_template(path.read_text(encoding="utf-8"))
    if not isinstance(template, dict):
        raise ValueError(f"{path} is not a CloudFormation template: its top level is not a mapping")
    if inline_includes:
        inlined = _inline_includes(template, path.parent)
        assert isinstance(inlined, dict)
        return inlined
    return template


def dump_template(template: dict[str, Any]) -> str:
    """The template as the compact JSON body CloudFormation accepts."""
    return json.dumps(template, separators=(",", ":"))


def _inline_includes(node: Any, base: Path) -> Any:
    if isinstance(node, list):
        return [_inline_includes(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    location = _local_include_location(node)
    if location is not None:
        text = (base / location).read_text(encoding="utf-8")
        return json.loads(text) if location.endswith(".json") else parse_template(text)
    return {key: _inline_includes(value, base) for key, value in node.items()}


def _local_include_location(node: dict[str, Any]) -> str | None:
    """The Location of a node that is nothing but a local AWS::Include, else None."""
    if set(node) != {"Fn::Transform"}:
        return None
    transform = node["Fn::Transform"]
    if not isinstance(transform, dict) or transform.get("Name") != _INCLUDE_TRANSFORM:
        return None
    parameters = transform.get("Parameters")
    location = parameters.get("Location") if isinstance(parameters, dict) else None
    if not isinstance(location, str) or location.startswith(_REMOTE_PREFIXES):
        return None
    return location


def with_parameter_defaults(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """A copy of the template whose declared parameters default to `values`.

    MiniStack runs the SAM transform with no parameter values (so with the defaults), while the stack itself gets
    the values given: whatever the transform decides from a parameter (DeploymentPreference.Enabled) would follow
    the default, not the engine's value. Sending the values as defaults makes both agree.
    """
    result = copy.deepcopy(template)
    for name, value in values.items():
        if name in result.get("Parameters", {}):
            result["Parameters"][name]["Default"] = value
    return result
