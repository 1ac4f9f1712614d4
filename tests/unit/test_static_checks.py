"""`invoke lint`'s template and workflow checks: what they run, and that they can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.checks import lint as static_checks
from devkit.core.project import ToolingError


def test_given_both_templates_then_the_sam_translator_accepts_them() -> None:
    for path in static_checks.TEMPLATES:
        assert static_checks.translate(path)["Resources"]


def test_given_a_sam_template_the_translator_refuses_then_lint_fails_with_its_reason(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      Runtime: python3.13\n      Handler: a.b\n      CodeUri: handlers/\n"
        "      DeploymentPreference: {Type: AllAtOnce}\n"
    )
    with pytest.raises(ToolingError, match="AutoPublishAlias"):
        static_checks.translate(broken)


def test_given_the_checkov_command_then_it_is_pinned_and_covers_both_templates() -> None:
    command = static_checks.checkov_command()
    assert command[:2] == ["uvx", f"checkov=={static_checks.CHECKOV_VERSION}"]
    assert command.count("--file") == 2
    assert {"template.yaml", "pipeline/bootstrap.yaml"} <= set(command)


@pytest.mark.parametrize(
    ("message", "ignored"),
    [
        ('undefined variable "vars". available variables are "env", "github"', True),
        ('undefined variable "secretz". available variables are "env"', False),
        ('property "vars" is not defined in object type {}', False),
    ],
)
def test_given_a_finding_then_only_the_bundled_linters_missing_vars_context_is_ignored(
    message: str, ignored: bool
) -> None:
    assert any(stale.match(message) for stale in static_checks.STALE_ACTIONLINT_FINDINGS) is ignored


def test_given_the_workflows_then_there_are_two_and_every_action_is_pinned_by_sha() -> None:
    import re

    files = static_checks.workflow_files()
    assert [path.name for path in files] == ["ci.yml", "deliver.yml"]
    for path in files:
        for line in path.read_text().splitlines():
            if "uses:" in line and "./.github/" not in line:
                assert re.search(r"@[0-9a-f]{40} # v\d", line), (path.name, line)
