"""The launcher's record of the engine's IAM decisions, on a stand-in for MiniStack's evaluator module: each check
`enforce` makes is counted once, with the decision it returned, under the principal the identity evaluation named."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from devkit.engines.ministack.launcher import IamRecorder

ROLE = "arn:aws:sts::000000000000:assumed-role/WriterRole/writer-fn"
TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/t"


def _evaluator(decision: str) -> SimpleNamespace:
    """A module with MiniStack's shape: `enforce` evaluates through the module's `evaluate` (looked up at call time)
    and returns None when allowed, the evaluation result when not."""
    module = SimpleNamespace()

    def evaluate(ctx: Any, *policies: Any) -> Any:
        return SimpleNamespace(decision=decision, principal_arn=ctx.principal_arn)

    def enforce(access_key: str, action: str, service: str, region: str, resource_arn: str = "*") -> Any:
        if access_key == "root":
            return None  # the root is never evaluated
        context = SimpleNamespace(principal_arn=ROLE, action=action, resource_arn=resource_arn)
        result = module.evaluate(context, [])
        return None if result.decision == "Allow" else result

    module.evaluate, module.enforce = evaluate, enforce
    return module


def test_each_evaluated_check_is_counted_with_its_decision() -> None:
    # Given the recorder wrapped around an evaluator that allows
    allowing = _evaluator("Allow")
    recorder = IamRecorder(allowing)

    # When the engine checks the same call twice, and the root once
    assert allowing.enforce("key", "dynamodb:PutItem", "dynamodb", "us-east-1", TABLE) is None
    assert allowing.enforce("key", "dynamodb:PutItem", "dynamodb", "us-east-1", TABLE) is None
    allowing.enforce("root", "dynamodb:PutItem", "dynamodb", "us-east-1", TABLE)

    # Then the role's call is counted twice as allowed, and the root, never evaluated, is not there
    [entry] = recorder.answer("GET")["calls"]
    assert (entry["principal"], entry["action"], entry["resource"], entry["decision"], entry["count"]) == (
        ROLE,
        "dynamodb:PutItem",
        TABLE,
        "Allow",
        2,
    )


def test_a_denied_check_keeps_its_decision_and_delete_starts_afresh() -> None:
    denying = _evaluator("ImplicitDeny")
    recorder = IamRecorder(denying)

    denied = denying.enforce("key", "dynamodb:GetItem", "dynamodb", "us-east-1", TABLE)

    assert denied.decision == "ImplicitDeny"  # the engine's answer is passed on unchanged
    assert [call["decision"] for call in recorder.answer("GET")["calls"]] == ["ImplicitDeny"]
    assert recorder.answer("DELETE")["calls"] == []
    assert recorder.answer("GET")["calls"] == []


def test_the_record_is_saved_and_read_back_by_the_next_engine(tmp_path: Path) -> None:
    # Given a recorder that saved one denied call
    path = str(tmp_path / ".devkit-iam")
    first = _evaluator("ImplicitDeny")
    recorder = IamRecorder(first, path)
    first.enforce("key", "dynamodb:GetItem", "dynamodb", "us-east-1", TABLE)
    recorder.save()

    # When the engine restarts and records the same call again
    second = _evaluator("ImplicitDeny")
    restarted = IamRecorder(second, path)
    second.enforce("key", "dynamodb:GetItem", "dynamodb", "us-east-1", TABLE)

    # Then the record goes on from where it was, since the first start
    [entry] = restarted.answer("GET")["calls"]
    assert entry["count"] == 2
    assert restarted.answer("GET")["since"] == recorder.started
