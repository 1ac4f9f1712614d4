"""How the tooling reads the template: short-form tags, includes, JSON round trips."""

from __future__ import annotations

import json
from pathlib import Path

from template_stack import (
    Template,
)

from devkit.core.template import dump_template, load_template, parse_template

# ---------------------------------------------------------------------------------------------- devkit.core.template


def test_given_short_form_tags_when_parsed_then_they_become_long_form_intrinsics() -> None:
    text = """
    Ref: !Ref Param
    Sub: !Sub '${AWS::StackName}-x'
    SubList: !Sub ['${A}', {A: !Ref B}]
    GetAtt: !GetAtt Queue.Arn
    GetAttDeep: !GetAtt Api.RootResource.Id
    If: !If [Cond, !Equals [a, b], !Not [!Condition Other]]
    Logic: !And [!Or [!Condition A, !Condition B], !Condition C]
    Select: !Select [0, !Split [',', !Join [',', [a, b]]]]
    Map: !FindInMap [M, K, V]
    Import: !ImportValue Exported
    B64: !Base64 text
    Cidr: !Cidr [10.0.0.0/16, 2, 8]
    Azs: !GetAZs ''
    Include: !Transform {Name: AWS::Include, Parameters: {Location: s3://b/k.yaml}}
    Version: 2010-09-09
    """
    assert parse_template(text) == {
        "Ref": {"Ref": "Param"},
        "Sub": {"Fn::Sub": "${AWS::StackName}-x"},
        "SubList": {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]},
        "GetAtt": {"Fn::GetAtt": ["Queue", "Arn"]},
        "GetAttDeep": {"Fn::GetAtt": ["Api", "RootResource.Id"]},
        "If": {"Fn::If": ["Cond", {"Fn::Equals": ["a", "b"]}, {"Fn::Not": [{"Condition": "Other"}]}]},
        "Logic": {"Fn::And": [{"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}, {"Condition": "C"}]},
        "Select": {"Fn::Select": [0, {"Fn::Split": [",", {"Fn::Join": [",", ["a", "b"]]}]}]},
        "Map": {"Fn::FindInMap": ["M", "K", "V"]},
        "Import": {"Fn::ImportValue": "Exported"},
        "B64": {"Fn::Base64": "text"},
        "Cidr": {"Fn::Cidr": ["10.0.0.0/16", 2, 8]},
        "Azs": {"Fn::GetAZs": ""},
        "Include": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k.yaml"}}},
        # CloudFormation keeps dates as strings; a datetime.date would not even serialise to JSON.
        "Version": "2010-09-09",
    }


def test_given_local_and_remote_includes_when_inlined_then_only_local_files_are_replaced(
    tmp_path: Path,
) -> None:
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "model.json").write_text('{"type": "object", "pattern": "^\\\\S+$"}')
    (tmp_path / "snippets" / "extra.yaml").write_text("Key: !Ref Thing\nList: [1, 2]\n")
    (tmp_path / "template.yaml").write_text(
        """
        Resources:
          Api:
            Properties:
              Models:
                Local: {Fn::Transform: {Name: AWS::Include, Parameters: {Location: snippets/model.json}}}
                Remote: {Fn::Transform: {Name: AWS::Include, Parameters: {Location: s3://bucket/model.json}}}
              Nested: [{Fn::Transform: {Name: AWS::Include, Parameters: {Location: snippets/extra.yaml}}}]
              Macro: {Fn::Transform: {Name: MyMacro, Parameters: {Location: snippets/model.json}}}
        """
    )
    as_written = load_template(tmp_path / "template.yaml")
    inlined = load_template(tmp_path / "template.yaml", inline_includes=True)

    properties = inlined["Resources"]["Api"]["Properties"]
    assert properties["Models"]["Local"] == {"type": "object", "pattern": "^\\S+$"}
    assert properties["Models"]["Remote"] == as_written["Resources"]["Api"]["Properties"]["Models"]["Remote"]
    assert properties["Nested"] == [{"Key": {"Ref": "Thing"}, "List": [1, 2]}]
    assert properties["Macro"] == as_written["Resources"]["Api"]["Properties"]["Macro"]
    assert "Fn::Transform" in json.dumps(as_written["Resources"]["Api"]["Properties"]["Models"]["Local"])


def test_given_the_inlined_template_when_dumped_then_it_is_json_that_round_trips(inlined: Template) -> None:
    body = dump_template(inlined)
    assert json.loads(body) == inlined
    # The local deploy sends it from S3 (TemplateURL), which CloudFormation caps at 1 MB.
    assert len(body.encode()) < 1_000_000
