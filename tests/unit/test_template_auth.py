"""Authentication: the Cognito authorizer, scopes, the user pool and its clients, idempotency records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from template_stack import (
    CORS_ALLOW_HEADERS,
    Stack,
    Template,
)

from purchases.ownership import ADMIN_SCOPE

# ---------------------------------------------------------------------------------------------- authentication

SCOPE_OF_METHOD = {"get": "purchases/read", "post": "purchases/write", "put": "purchases/write"}
SCOPE_OF_METHOD["delete"] = "purchases/write"


def authorizer(stack: Stack) -> tuple[str, Template]:
    schemes = stack.api_body["components"]["securitySchemes"]
    assert len(schemes) == 1, schemes
    ((name, scheme),) = schemes.items()
    return name, scheme


def test_given_any_stage_then_the_authorizer_checks_tokens_of_the_stages_own_user_pool(stack: Stack) -> None:
    _, scheme = authorizer(stack)
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["in"] == "header" and scheme["name"] == "Authorization"
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_any_stage_then_every_method_but_the_preflight_needs_a_token_with_its_scope(
    dev: Stack, prod: Stack, stage: str
) -> None:
    stack = dev if stage == "dev" else prod
    name, _ = authorizer(stack)
    seen = set()
    for path, method, operation in stack.operations():
        if method == "options":
            # The preflight stays open: browsers never send credentials with it.
            assert "security" not in operation or operation["security"] == [{"NONE": []}], (path, operation)
            continue
        assert operation["security"] == [{name: [SCOPE_OF_METHOD[method]]}], (path, method)
        seen.add((path, method))
    assert len(seen) == 5, seen


def test_given_any_stage_then_the_gateways_401_has_the_error_shape_cors_and_names_the_bearer_scheme(
    stack: Stack,
) -> None:
    response = stack.api_body["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    assert str(response["statusCode"]) == "401"
    headers = response["responseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["gatewayresponse.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS
    assert headers["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Unauthorized"'
    )
    assert json.loads(rendered) == {"message": "Unauthorized", "errors": []}


def test_given_any_stage_then_the_resource_server_has_the_read_write_and_admin_scopes(stack: Stack) -> None:
    server = stack.only("AWS::Cognito::UserPoolResourceServer")["Properties"]
    assert server["Identifier"] == "purchases"
    assert server["UserPoolId"] == {"Ref": "UserPool"}
    scopes = {f"{server['Identifier']}/{scope['ScopeName']}" for scope in server["Scopes"]}
    assert scopes == {"purchases/read", "purchases/write", ADMIN_SCOPE}


def test_given_any_stage_then_the_domain_prefix_is_unique_per_account_and_stage(stack: Stack) -> None:
    domain = stack.only("AWS::Cognito::UserPoolDomain")["Properties"]
    assert domain["Domain"] == {"Fn::Sub": "purchases-${StageName}-${AWS::AccountId}"}
    assert stack.outputs["TokenUrl"]["Value"] == {
        "Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"
    }


def test_given_any_stage_then_nobody_signs_up_to_the_pool(stack: Stack) -> None:
    pool = stack.only("AWS::Cognito::UserPool")["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_given_dev_then_a_development_client_may_ask_for_every_scope_by_client_credentials_only(
    dev: Stack,
) -> None:
    client = dev.only("AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == sorted(["purchases/read", "purchases/write", ADMIN_SCOPE])
    assert client["AccessTokenValidity"] == {"Ref": "AccessTokenMinutes"}
    assert client["TokenValidityUnits"] == {"AccessToken": "minutes"}


def test_given_prod_then_there_is_no_development_client(prod: Stack) -> None:
    assert prod.of_type("AWS::Cognito::UserPoolClient") == {}


def test_given_a_custom_domain_then_the_execute_api_endpoint_is_disabled(dev: Stack, prod: Stack) -> None:
    def disabled(stack: Stack) -> Any:
        (server,) = stack.api_body["servers"]
        return server["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"]

    assert disabled(prod) is True
    assert disabled(dev) is False


def test_given_any_stage_then_idempotency_records_have_their_own_table_with_powertools_layout(
    stack: Stack,
) -> None:
    table = stack.properties("IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert stack.properties("SenderFunction")["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == {
        "Ref": "IdempotencyTable"
    }
