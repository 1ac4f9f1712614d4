"""The write queue, its dead-letter queue, the table and the dead-letter alarm."""

from __future__ import annotations

from template_stack import (
    Stack,
)

from purchases.adapters.dynamodb import (
    LISTED,
    LISTED_FOR,
)

# ---------------------------------------------------------------------------------------------- queue, table, alarm


def test_given_any_stage_then_the_queue_is_encrypted_and_redrives_after_three_receives(stack: Stack) -> None:
    queue = stack.properties("PurchaseQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeout"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["PurchaseDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }


def test_given_any_stage_then_the_dead_letter_queue_is_encrypted_and_keeps_messages_14_days(
    stack: Stack,
) -> None:
    dead_letters = stack.properties("PurchaseDeadLetterQueue")
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert dead_letters["MessageRetentionPeriod"] == 1209600
    assert (
        dead_letters["MessageRetentionPeriod"] > stack.properties("PurchaseQueue")["MessageRetentionPeriod"]
    )


def test_given_any_stage_then_the_table_is_keyed_encrypted_on_demand_with_ttl_and_retained(
    stack: Stack,
) -> None:
    table = stack.resources["PurchaseTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "ProductPurchaseId", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "ProductPurchaseId", "AttributeType": "S"},
        {"AttributeName": LISTED, "AttributeType": "S"},
        {"AttributeName": LISTED_FOR, "AttributeType": "S"},
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ExpiresAt", "Enabled": True}


def test_given_dev_then_the_table_has_no_point_in_time_recovery_nor_deletion_protection(dev: Stack) -> None:
    table = dev.properties("PurchaseTable")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    assert table["DeletionProtectionEnabled"] is False


def test_given_prod_then_the_table_has_point_in_time_recovery_and_deletion_protection(prod: Stack) -> None:
    table = prod.properties("PurchaseTable")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True


def test_given_any_stage_then_a_message_in_the_dead_letter_queue_raises_the_alarm(stack: Stack) -> None:
    alarm = stack.properties("DeadLetterAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PurchaseDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_given_any_stage_then_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(
    stack: Stack,
) -> None:
    assert stack.properties("AlarmTopic")["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = stack.properties("AlarmTopicKey")
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
