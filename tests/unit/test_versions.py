"""Each function's version key (its AutoPublishCodeSha256): it changes when what the function's published version
runs changes - its code, its properties, a parameter value reaching them - and only then, so the `live` alias
moves to a new version on a configuration change and stays put otherwise."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from devkit.core.template import load_template
from devkit.delivery.aws import PipelineResources
from devkit.delivery.versions import (
    directory_digest,
    parameters_reaching,
    resolved_parameters,
    version_keys,
    version_parameter_names,
)

FUNCTIONS = (
    "SenderFunction",
    "ReaderFunction",
    "WriterFunction",
    "AuthorizerFunction",
    "ConnectionsFunction",
    "NotifierFunction",
    "SweeperFunction",
)
BASE = {"StageName": "dev", "WriterFaultRate": "0", "MaxConnectionsPerClient": "5"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _keys(template: dict[str, Any], values: dict[str, str], code: str = "code-1") -> dict[str, str]:
    """Function logical id -> its version key."""
    names = version_parameter_names(template)
    keys = version_keys(template, values, dict.fromkeys(names, code))
    return {function: keys[parameter] for function, parameter in names.items()}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {function for function in before if before[function] != after[function]}


def test_every_function_publishes_through_its_own_version_parameter(template: dict[str, Any]) -> None:
    # Given the template, Then each function's AutoPublishCodeSha256 is a parameter of its own, empty by default
    names = version_parameter_names(template)
    assert set(names) == set(FUNCTIONS)
    # And no function of the template is left to SAM's own rule (a new one needs its parameter too)
    assert set(names) == {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert len(set(names.values())) == len(FUNCTIONS)
    assert all(template["Parameters"][parameter]["Default"] == "" for parameter in names.values())


def test_the_same_inputs_give_the_same_keys(template: dict[str, Any]) -> None:
    assert _keys(template, BASE) == _keys(template, dict(BASE))
    assert all(len(key) == 64 for key in _keys(template, BASE).values())


@pytest.mark.parametrize(
    ("parameter", "value", "functions"),
    [
        ("WriterFaultRate", "0.05", {"WriterFunction"}),
        ("WriterCrashRate", "0.02", {"WriterFunction"}),
        ("WriterSlowMarker", "slow-one", {"WriterFunction"}),
        ("WriterTimeout", "7", {"WriterFunction"}),
        ("MaxConnectionsPerClient", "9", {"ConnectionsFunction"}),
        ("LogLevel", "DEBUG", set(FUNCTIONS)),
    ],
)
def test_a_parameter_reaching_a_function_changes_that_functions_key_only(
    template: dict[str, Any], parameter: str, value: str, functions: set[str]
) -> None:
    # When a parameter that reaches some functions' configuration changes
    after = _keys(template, {**BASE, parameter: value})
    # Then exactly those functions get a new key (a new version behind `live`)
    assert _changed(_keys(template, BASE), after) == functions


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("WriterMaxConcurrency", "9"),  # the event source's setting, on the alias: no new version needed
        ("WriterBatchWindow", "3"),
        ("QueueVisibilityTimeout", "90"),
        ("GradualDeployment", "false"),
        ("PermissionsBoundary", "arn:aws:iam::123456789012:policy/boundary"),
        ("AlarmEmail", "ops@example.com"),
    ],
)
def test_a_parameter_that_reaches_no_versioned_property_changes_no_key(
    template: dict[str, Any], parameter: str, value: str
) -> None:
    assert _changed(_keys(template, BASE), _keys(template, {**BASE, parameter: value})) == set()


def test_new_code_changes_every_key(template: dict[str, Any]) -> None:
    # SAM takes the key as the version's whole logical id, so the code must be in it
    assert _changed(_keys(template, BASE), _keys(template, BASE, code="code-2")) == set(FUNCTIONS)


def test_a_changed_property_in_the_template_changes_that_functions_key(template: dict[str, Any]) -> None:
    # Given the reader's memory edited in the template
    edited = copy.deepcopy(template)
    edited["Resources"]["ReaderFunction"]["Properties"]["MemorySize"] = 512
    # Then only the reader gets a new version
    assert _changed(_keys(template, BASE), _keys(edited, BASE)) == {"ReaderFunction"}


def test_a_parameter_reaches_a_function_through_a_condition(template: dict[str, Any]) -> None:
    # The writer's handler depends on UsesWriterTestHooks, a condition on the test-hook parameters
    assert {"WriterFaultRate", "WriterCrashRate", "WriterSlowMarker"} <= parameters_reaching(
        template, "WriterFunction"
    )
    assert "WriterFaultRate" not in parameters_reaching(template, "ReaderFunction")


def test_a_parameter_not_given_keeps_the_stacks_value_then_the_default(template: dict[str, Any]) -> None:
    # Given a stack deployed with WriterTimeout 7, and a `sam deploy` that does not override it
    resolved = resolved_parameters(template, {"StageName": "qa"}, previous={"WriterTimeout": "7"})
    # Then CloudFormation keeps 7 (UsePreviousValue), and a parameter never set takes its default
    assert resolved["WriterTimeout"] == "7"
    assert resolved["StageName"] == "qa"
    assert resolved["LogLevel"] == "INFO"
    names = version_parameter_names(template)
    kept = version_keys(template, {}, dict.fromkeys(names, "c"), previous={"WriterTimeout": "7"})
    given = version_keys(template, {"WriterTimeout": "7"}, dict.fromkeys(names, "c"))
    assert kept == given


def test_the_aws_deploy_passes_the_version_keys_with_the_stages_overrides() -> None:
    resources = PipelineResources("arn:role/deploy", "bucket", "arn:role/exec", "arn:policy/boundary")
    arguments = resources.sam_deploy_arguments("qa", {"WriterFunctionSha256": "ab" * 32})
    overrides = arguments[arguments.index("--parameter-overrides") + 1 :]
    assert overrides == [
        "StageName=qa",
        "PermissionsBoundary=arn:policy/boundary",
        f"WriterFunctionSha256={'ab' * 32}",
    ]


def test_a_folders_digest_follows_its_contents_not_its_times(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("y = 2\n")
    first = directory_digest(tmp_path)
    (tmp_path / "a.py").touch()
    assert directory_digest(tmp_path) == first
    (tmp_path / "pkg" / "b.py").write_text("y = 3\n")
    assert directory_digest(tmp_path) != first
