"""The REST API: routes, stage logging, CORS, validation, the custom domain and the outputs."""

from __future__ import annotations

import json

import pytest
from template_stack import (
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_METHODS,
    DEV,
    RETENTION,
    ROUTES,
    SCHEMA,
    SCHEMA_INCLUDE,
    TEMPLATE,
    Stack,
    Template,
    evaluate,
    integration_target,
    model_name,
)

# ---------------------------------------------------------------------------------------------- API


def test_given_any_stage_then_each_route_reaches_its_function(stack: Stack) -> None:
    routes = {
        (path, method): integration_target(operation)
        for path, method, operation in stack.operations()
        if method != "options"
    }
    assert routes == ROUTES


def test_given_any_stage_then_the_stage_is_traced_and_access_logged_as_json_for_a_week(stack: Stack) -> None:
    stage = stack.only("AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == {"Ref": "StageName"}
    assert stage["TracingEnabled"] is True
    access_log = stage["AccessLogSetting"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access_log["Format"])
    assert set(fields) >= {
        "requestId",
        "ip",
        "caller",
        "user",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "protocol",
        "responseLength",
        "integrationError",
        "clientId",
    }
    assert all(value.startswith("$context.") for value in fields.values())
    # The calling app client, as the Cognito authorizer read it from the access token
    assert fields["clientId"] == "$context.authorizer.claims.client_id"
    assert stack.properties("ApiAccessLogGroup")["RetentionInDays"] == RETENTION


def test_given_any_stage_then_execution_logs_keep_the_stages_retention(stack: Stack) -> None:
    execution_logs = stack.properties("ApiExecutionLogGroup")
    assert execution_logs["LogGroupName"] == {
        "Fn::Sub": "API-Gateway-Execution-Logs_${ProductPurchaseApi}/${StageName}"
    }
    assert execution_logs["RetentionInDays"] == RETENTION


def test_given_no_access_log_group_name_then_one_is_derived_from_stack_and_stage(
    dev: Stack, transformed_dev: Template
) -> None:
    assert dev.properties("ApiAccessLogGroup")["LogGroupName"] == {
        "Fn::Sub": "/aws/apigateway/${AWS::StackName}-${StageName}/access"
    }
    named = Stack(transformed_dev, {**DEV, "AccessLogGroup": "/custom/access"})
    assert named.properties("ApiAccessLogGroup")["LogGroupName"] == {"Ref": "AccessLogGroup"}


def method_settings(stack: Stack) -> Template:
    settings: Template
    (settings,) = stack.only("AWS::ApiGateway::Stage")["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["LoggingLevel"] == "INFO"
    assert settings["MetricsEnabled"] is True
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}
    return settings


def test_given_dev_then_execution_logs_carry_data_traces(dev: Stack) -> None:
    assert method_settings(dev)["DataTraceEnabled"] is True


def test_given_prod_then_execution_logs_never_carry_request_bodies(prod: Stack) -> None:
    assert method_settings(prod)["DataTraceEnabled"] is False


@pytest.mark.parametrize("stage", ["qa", "staging"])
def test_given_a_stage_with_production_like_data_then_execution_logs_carry_no_request_bodies(
    transformed_dev: Template, stage: str
) -> None:
    assert method_settings(Stack(transformed_dev, {"StageName": stage}))["DataTraceEnabled"] is False


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("qa", 14), ("staging", 30), ("prod", 365)])
def test_given_a_stage_then_every_log_group_keeps_that_stages_retention_unless_overridden(
    transformed_dev: Template, stage: str, days: int
) -> None:
    # Given the stage's own default, and the same stage with LogRetentionInDays set
    default = Stack(transformed_dev, {"StageName": stage})
    overridden = Stack(transformed_dev, {"StageName": stage, "LogRetentionInDays": "90"})
    assert default.of_type("AWS::Logs::LogGroup")
    for logical_id in default.of_type("AWS::Logs::LogGroup"):
        # Then every log group keeps its events that long
        retention = default.properties(logical_id)["RetentionInDays"]
        assert evaluate(retention, transformed_dev, default.parameters) == days
        retention = overridden.properties(logical_id)["RetentionInDays"]
        assert int(evaluate(retention, transformed_dev, overridden.parameters)) == 90


@pytest.mark.parametrize("path", ["/product-purchase", "/product-purchase/{id}"])
def test_given_any_stage_then_preflight_allows_every_method_and_the_idempotency_header(
    stack: Stack, path: str
) -> None:
    preflight = stack.api_body["paths"][path]["options"]["x-amazon-apigateway-integration"]
    headers = preflight["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["method.response.header.Access-Control-Allow-Methods"] == CORS_ALLOW_METHODS
    assert headers["method.response.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_given_api_gateway_answers_itself_then_the_answer_has_cors_headers_and_the_error_shape(
    stack: Stack, response_type: str
) -> None:
    response = stack.api_body["x-amazon-apigateway-gateway-responses"][response_type]
    headers = response["responseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["gatewayresponse.header.Access-Control-Allow-Methods"] == CORS_ALLOW_METHODS
    assert headers["gatewayresponse.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS
    assert headers["gatewayresponse.header.Access-Control-Expose-Headers"] == "'Location,Link'"
    # API Gateway substitutes messageString with the message as a quoted JSON string.
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Invalid request body"'
    )
    assert json.loads(rendered) == {"message": "Invalid request body", "errors": []}


def test_given_any_stage_then_post_and_put_bodies_are_validated_against_the_schema_file(stack: Stack) -> None:
    schema = json.loads(SCHEMA.read_text())
    validators = stack.api_body["x-amazon-apigateway-request-validators"]
    validated = set()
    for path, method, operation in stack.operations():
        if "x-amazon-apigateway-request-validator" not in operation:
            continue
        validated.add((path, method))
        assert validators[operation["x-amazon-apigateway-request-validator"]]["validateRequestBody"] is True
        assert operation["requestBody"]["required"] is True
        assert stack.api_body["components"]["schemas"][model_name(operation)] == schema
    assert validated == {("/product-purchase", "post"), ("/product-purchase/{id}", "put")}


def test_given_the_template_source_then_the_model_is_included_from_the_schema_file_not_copied(
    source: Template,
) -> None:
    models = source["Resources"]["ProductPurchaseApi"]["Properties"]["Models"]
    assert models == {"Purchase": SCHEMA_INCLUDE}
    assert "TimeOfPurchase" not in TEMPLATE.read_text()


def test_given_any_stage_then_the_api_is_regional_and_compresses_large_answers(stack: Stack) -> None:
    api = stack.properties("ProductPurchaseApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["MinimumCompressionSize"] == 1024


# ---------------------------------------------------------------------------------------------- custom domain


DOMAIN_TYPES = (
    "AWS::CertificateManager::Certificate",
    "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::BasePathMapping",
    "AWS::Route53::RecordSet",
)


def test_given_no_domain_then_no_domain_resources_exist(dev: Stack) -> None:
    assert not [lid for lid, res in dev.resources.items() if res["Type"] in DOMAIN_TYPES]


def test_given_a_domain_then_a_dns_validated_certificate_fronts_a_regional_tls12_domain(prod: Stack) -> None:
    certificate = prod.properties("ApiCertificate")
    assert certificate["DomainName"] == {"Ref": "DomainName"}
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"] == [
        {"DomainName": {"Ref": "DomainName"}, "HostedZoneId": {"Ref": "HostedZoneId"}}
    ]
    domain = prod.properties("ApiCustomDomain")
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["RegionalCertificateArn"] == {"Ref": "ApiCertificate"}


def test_given_a_domain_then_it_maps_to_the_stage_and_resolves_to_the_regional_endpoint(prod: Stack) -> None:
    (stage_id,) = prod.of_type("AWS::ApiGateway::Stage")
    mapping = prod.properties("ApiBasePathMapping")
    assert mapping["RestApiId"] == {"Ref": "ProductPurchaseApi"}
    assert mapping["Stage"] == {"Ref": stage_id}
    assert mapping["DomainName"] == {"Ref": "ApiCustomDomain"}
    record = prod.properties("ApiDnsRecord")
    assert (record["Type"], record["Name"], record["HostedZoneId"]) == (
        "A",
        {"Ref": "DomainName"},
        {"Ref": "HostedZoneId"},
    )
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["ApiCustomDomain", "RegionalDomainName"]}
    assert record["AliasTarget"]["HostedZoneId"] == {
        "Fn::GetAtt": ["ApiCustomDomain", "RegionalHostedZoneId"]
    }


# ---------------------------------------------------------------------------------------------- outputs


CONTRACT_OUTPUTS = {
    "ProductPurchaseApi",
    "ApiId",
    "StageName",
    "QueueUrl",
    "WriteSigningKeyArn",
    "DeadLetterQueueUrl",
    "TableName",
    "SenderFunctionName",
    "ReaderFunctionName",
    "WriterFunctionName",
    "SenderRoleArn",
    "ReaderRoleArn",
    "WriterRoleArn",
    "AlarmTopicArn",
    "UserPoolId",
    "UserPoolArn",
    "IssuerUrl",
    "TokenUrl",
    "AccessTokenMinutes",
    "IdempotencyTableName",
    # Real-time notifications (test_template_realtime checks them).
    "WebSocketUrl",
    "NotificationApiId",
    "ConnectionTableName",
    "ConnectionLeaseTableName",
    "SweeperFunctionName",
    "SweeperRoleArn",
    "NotifierFunctionName",
    "ConnectionsFunctionName",
    "AuthorizerFunctionName",
    "NotifierRoleArn",
    "ConnectionsRoleArn",
    "AuthorizerRoleArn",
    "NotificationFailureQueueUrl",
    "MaxConnectionsPerClient",
}


def test_given_no_domain_then_the_outputs_are_the_contract_ones(dev: Stack) -> None:
    # A non-prod stage also names its development client.
    assert set(dev.outputs) == CONTRACT_OUTPUTS | {"DevelopmentClientId"}


def test_given_a_domain_then_the_outputs_add_the_custom_domain_url(prod: Stack) -> None:
    # Prod has no development client: its consumers each get their own.
    assert set(prod.outputs) == CONTRACT_OUTPUTS | {"CustomDomainUrl"}
    assert prod.outputs["CustomDomainUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}/product-purchase/"}


def test_given_any_stage_then_the_api_output_is_the_stage_collection_url(stack: Stack) -> None:
    assert stack.outputs["ProductPurchaseApi"]["Value"] == {
        "Fn::Sub": "https://${ProductPurchaseApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
        "/product-purchase/"
    }
