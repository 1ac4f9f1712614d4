"""Least privilege, shown on the engine with IAM enforced: each function's role can make exactly the calls its
function needs, and is refused the rest (other actions, the DLQ, other tables and queues; the reader lists through
its index and may neither scan nor query the table itself).

Each test assumes the role itself (STS AssumeRole with the engine's root credentials) and calls the AWS APIs as
the function would. On AWS this module is skipped: assuming a deployed stage's function roles is not a test's
business there (their trust policies admit only Lambda), and the template unit test checks the policies.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.engines import Engine
from devkit.stack.signed_writes import SenderRole
from purchases.adapters.kms import MAC_ALGORITHM
from purchases.signing import mac_input

from .messages import new_id, stamp_after, write_message
from .support import Api, Stack, make_purchase, unique_token

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"})
# What an authorized probe may hear back: success, or the service refusing the deliberately impossible request.
AUTHORIZED_OUTCOMES = frozenset({None, "ConditionalCheckFailedException", "ReceiptHandleIsInvalid"})
ROLE_OUTPUTS = {"sender": "SenderRoleArn", "reader": "ReaderRoleArn", "writer": "WriterRoleArn"}


@pytest.fixture(scope="module", autouse=True)
def _only_on_emulators(outputs: dict[str, Any]) -> None:
    if outputs["Engine"] == "aws":
        pytest.skip("IAM is proven on the emulator with IAM enforced; on AWS the roles trust only Lambda.")


@dataclass(frozen=True)
class Resources:
    queue_url: str
    dlq_url: str
    table: str
    foreign_queue_url: str
    foreign_table: str
    idempotency_table: str
    signing_key: str
    # Signs as the sender does, so an allowed send is a write the writer applies.
    signer: SenderRole


@pytest.fixture(scope="module")
def resources(stack: Stack, outputs: dict[str, Any], aws_client: Callable[[str], Any]) -> Iterator[Resources]:
    """The stack's resources plus a table and a queue of no stack, which no role may touch."""
    name = f"e2e-foreign-{unique_token()}"
    dynamodb, sqs = aws_client("dynamodb"), aws_client("sqs")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "ProductPurchaseId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "ProductPurchaseId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    foreign_queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        yield Resources(
            stack.queue_url,
            stack.dlq_url,
            stack.table_name,
            foreign_queue,
            name,
            stack.idempotency_table_name,
            outputs["WriteSigningKeyArn"],
            stack.sender(),
        )
    finally:
        dynamodb.delete_table(TableName=name)
        sqs.delete_queue(QueueUrl=foreign_queue)


@pytest.fixture(scope="module")
def as_role(
    outputs: dict[str, Any], engine: Engine, aws_client: Callable[[str], Any]
) -> Callable[[str, str], Any]:
    """`as_role("reader", "dynamodb")`: a client acting with that function's role (assumed once per role)."""
    sessions: dict[str, boto3.Session] = {}

    def client(role: str, service: str) -> Any:
        if role not in sessions:
            credentials = aws_client("sts").assume_role(
                RoleArn=outputs[ROLE_OUTPUTS[role]], RoleSessionName=f"e2e-{role}-{unique_token()}"
            )["Credentials"]
            sessions[role] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=outputs["Region"],
            )
        return sessions[role].client(  # type: ignore[call-overload]
            service, endpoint_url=engine.endpoint_url(), config=Config(retries={"max_attempts": 1})
        )

    return client


Call = Callable[[Callable[[str], Any], Resources], Any]


def _key() -> dict[str, Any]:
    return {"ProductPurchaseId": {"S": new_id()}}


def _absent_item_put(table: Callable[[Resources], str]) -> Call:
    # A condition that cannot hold: an authorized caller gets ConditionalCheckFailed and writes nothing.
    return lambda client, r: client("dynamodb").put_item(
        TableName=table(r),
        Item={**_key(), "Probe": {"S": "iam"}},
        ConditionExpression="attribute_exists(ProductPurchaseId)",
    )


def _send_valid_write(queue: Callable[[Resources], str]) -> Call:
    # A real, signed create for a fresh id, so an allowed send is just one more purchase for the writer to apply.
    def send(client: Callable[[str], Any], r: Resources) -> Any:
        body = write_message("create", new_id(), stamp_after(0), make_purchase(), owner="e2e-iam-probe")
        return client("sqs").send_message(
            QueueUrl=queue(r), MessageBody=body, MessageAttributes=r.signer.attributes(body)
        )

    return send


def _generate_mac(client: Callable[[str], Any], r: Resources) -> Any:
    return client("kms").generate_mac(
        KeyId=r.signing_key, Message=mac_input("{}"), MacAlgorithm=MAC_ALGORITHM
    )


def _verify_mac(client: Callable[[str], Any], r: Resources) -> Any:
    # A MAC the key really made: an authorized caller hears that it is valid.
    mac = r.signer.attributes("{}")
    return client("kms").verify_mac(
        KeyId=r.signing_key,
        Message=mac_input("{}"),
        MacAlgorithm=MAC_ALGORITHM,
        Mac=base64.b64decode(next(iter(mac.values()))["StringValue"]),
    )


def _receive(queue: Callable[[Resources], str]) -> Call:
    # Visibility 0: whatever this call receives is handed straight back to the writer.
    return lambda client, r: client("sqs").receive_message(
        QueueUrl=queue(r), MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0
    )


def _queue(r: Resources) -> str:
    return r.queue_url


def _dlq(r: Resources) -> str:
    return r.dlq_url


def _foreign_queue(r: Resources) -> str:
    return r.foreign_queue_url


def _table(r: Resources) -> str:
    return r.table


def _foreign_table(r: Resources) -> str:
    return r.foreign_table


def _get(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").get_item(TableName=table(r), Key=_key())


def _get_state(table: Callable[[Resources], str]) -> Call:
    # The sender's existence check: the key, the tombstone flag, the owner and the digest only.
    return lambda client, r: client("dynamodb").get_item(
        TableName=table(r),
        Key=_key(),
        ProjectionExpression="#id, #deleted, #owner, #digest",
        ExpressionAttributeNames={
            "#id": "ProductPurchaseId",
            "#deleted": "Deleted",
            "#owner": "ClientId",
            "#digest": "PurchaseDigest",
        },
    )


def _get_other_attributes(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").get_item(
        TableName=table(r), Key=_key(), ProjectionExpression="ProductPurchaseId, CustomerName"
    )


def _scan(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").scan(TableName=table(r), Limit=1)


def _query(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").query(
        TableName=table(r),
        KeyConditionExpression="ProductPurchaseId = :id",
        ExpressionAttributeValues={":id": {"S": new_id()}},
    )


def _query_live_index(table: Callable[[Resources], str]) -> Call:
    # The one Query the reader makes: a page of the sparse index of live purchases.
    return lambda client, r: client("dynamodb").query(
        TableName=table(r),
        IndexName="LivePurchases",
        KeyConditionExpression="Listed = :live",
        ExpressionAttributeValues={":live": {"S": "live"}},
        Limit=1,
    )


def _query_owner_index(table: Callable[[Resources], str]) -> Call:
    # The Query a caller's list page makes: its own partition of the per-owner index.
    return lambda client, r: client("dynamodb").query(
        TableName=table(r),
        IndexName="PurchasesByOwner",
        KeyConditionExpression="ListedFor = :owner",
        ExpressionAttributeValues={":owner": {"S": "e2e-iam-probe"}},
        Limit=1,
    )


def _update(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").update_item(
        TableName=table(r),
        Key=_key(),
        UpdateExpression="SET Probe = :probe",
        ConditionExpression="attribute_exists(ProductPurchaseId)",
        ExpressionAttributeValues={":probe": {"S": "iam"}},
    )


def _delete(table: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("dynamodb").delete_item(TableName=table(r), Key=_key())


def _delete_message(queue: Callable[[Resources], str]) -> Call:
    # A receipt handle for no message: an authorized caller is told the handle is wrong (or nothing happens).
    return lambda client, r: client("sqs").delete_message(
        QueueUrl=queue(r), ReceiptHandle=f"e2e-{unique_token()}"
    )


def _queue_attributes(queue: Callable[[Resources], str]) -> Call:
    return lambda client, r: client("sqs").get_queue_attributes(QueueUrl=queue(r), AttributeNames=["All"])


def _idempotency_table(r: Resources) -> str:
    return r.idempotency_table


def _idempotency_record_put(table: Callable[[Resources], str]) -> Call:
    # Powertools' layout (key `id`); the impossible condition leaves the table as it was.
    return lambda client, r: client("dynamodb").put_item(
        TableName=table(r),
        Item={"id": {"S": f"e2e-probe-{unique_token()}"}},
        ConditionExpression="attribute_exists(id)",
    )


def _idempotency_record_call(operation: str) -> Call:
    key = {"id": {"S": f"e2e-probe-{unique_token()}"}}
    if operation == "scan":
        return lambda client, r: client("dynamodb").scan(TableName=r.idempotency_table, Limit=1)
    return lambda client, r: getattr(client("dynamodb"), operation)(TableName=r.idempotency_table, Key=key)


ALLOWED: list[tuple[str, str, Call]] = [
    ("sender", "PutItem on the idempotency table", _idempotency_record_put(_idempotency_table)),
    ("sender", "GetItem on the idempotency table", _idempotency_record_call("get_item")),
    ("sender", "DeleteItem on the idempotency table", _idempotency_record_call("delete_item")),
    ("sender", "SendMessage to the queue", _send_valid_write(_queue)),
    ("sender", "GetItem of the key, tombstone flag, owner and digest on the table", _get_state(_table)),
    ("reader", "GetItem on the table", _get(_table)),
    ("reader", "Query the live-purchases index", _query_live_index(_table)),
    ("reader", "Query the per-owner index", _query_owner_index(_table)),
    ("writer", "PutItem on the table", _absent_item_put(_table)),
    ("writer", "ReceiveMessage from the queue", _receive(_queue)),
    ("writer", "DeleteMessage on the queue", _delete_message(_queue)),
    ("writer", "GetQueueAttributes of the queue", _queue_attributes(_queue)),
    ("sender", "GenerateMac with the write-signing key", _generate_mac),
    ("writer", "VerifyMac with the write-signing key", _verify_mac),
]

DENIED: list[tuple[str, str, Call]] = [
    ("sender", "Scan the idempotency table", _idempotency_record_call("scan")),
    ("reader", "GetItem on the idempotency table", _idempotency_record_call("get_item")),
    ("writer", "PutItem on the idempotency table", _idempotency_record_put(_idempotency_table)),
    ("sender", "ReceiveMessage from the DLQ", _receive(_dlq)),
    ("sender", "ReceiveMessage from the queue", _receive(_queue)),
    ("sender", "SendMessage to the DLQ", _send_valid_write(_dlq)),
    ("sender", "PutItem on the table", _absent_item_put(_table)),
    ("sender", "Scan the table", _scan(_table)),
    ("sender", "DeleteItem on the table", _delete(_table)),
    ("sender", "GetItem on another table", _get_state(_foreign_table)),
    # The existence check may not read the purchase itself.
    ("sender", "GetItem of a whole item on the table", _get(_table)),
    ("sender", "GetItem of personal data on the table", _get_other_attributes(_table)),
    ("sender", "SendMessage to another queue", _send_valid_write(_foreign_queue)),
    ("reader", "PutItem on the table", _absent_item_put(_table)),
    ("reader", "UpdateItem on the table", _update(_table)),
    ("reader", "DeleteItem on the table", _delete(_table)),
    ("reader", "SendMessage to the queue", _send_valid_write(_queue)),
    ("reader", "ReceiveMessage from the DLQ", _receive(_dlq)),
    ("reader", "Scan another table", _scan(_foreign_table)),
    # A list page is one Query of the live index; the table itself is neither scanned nor queried.
    ("reader", "Scan the table", _scan(_table)),
    ("reader", "Query the table", _query(_table)),
    ("writer", "SendMessage to the DLQ", _send_valid_write(_dlq)),
    ("writer", "SendMessage to the queue", _send_valid_write(_queue)),
    ("writer", "ReceiveMessage from the DLQ", _receive(_dlq)),
    ("writer", "GetItem on the table", _get(_table)),
    ("writer", "Scan the table", _scan(_table)),
    ("writer", "PutItem on another table", _absent_item_put(_foreign_table)),
    ("writer", "ReceiveMessage from another queue", _receive(_foreign_queue)),
    # Every write is one conditional PutItem.
    ("writer", "UpdateItem on the table", _update(_table)),
    ("writer", "DeleteItem on the table", _delete(_table)),
    ("writer", "Query the live-purchases index", _query_live_index(_table)),
    ("sender", "Query the live-purchases index", _query_live_index(_table)),
    ("writer", "Query the per-owner index", _query_owner_index(_table)),
    # Only the sender signs write messages, only the writer checks them (the key policy).
    ("writer", "GenerateMac with the write-signing key", _generate_mac),
    ("reader", "GenerateMac with the write-signing key", _generate_mac),
    ("sender", "VerifyMac with the write-signing key", _verify_mac),
    ("reader", "VerifyMac with the write-signing key", _verify_mac),
]


def _error_code(call: Call, client: Callable[[str], Any], resources: Resources) -> str | None:
    try:
        call(client, resources)
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return None


@pytest.mark.parametrize(("role", "action", "call"), ALLOWED, ids=[f"{r} may {a}" for r, a, _ in ALLOWED])
def test_a_role_may_make_the_calls_its_function_needs(
    as_role: Callable[[str, str], Any], resources: Resources, role: str, action: str, call: Call
) -> None:
    # Given the function's role
    # When it makes a call its function needs
    code = _error_code(call, lambda service: as_role(role, service), resources)
    # Then IAM lets it through (a service-level refusal such as a failed condition still means "authorized")
    assert code in AUTHORIZED_OUTCOMES, f"{role} could not {action} (error code: {code})"


@pytest.mark.parametrize(("role", "action", "call"), DENIED, ids=[f"{r} may not {a}" for r, a, _ in DENIED])
def test_a_role_is_refused_everything_else(
    as_role: Callable[[str, str], Any], resources: Resources, role: str, action: str, call: Call
) -> None:
    # Given the function's role
    # When it tries a call its function does not need
    code = _error_code(call, lambda service: as_role(role, service), resources)
    # Then IAM refuses it
    assert code in DENIED_CODES, f"{role} was not denied {action} (error code: {code})"


@pytest.mark.parametrize("role", sorted(ROLE_OUTPUTS))
def test_each_function_runs_as_the_role_probed_here(
    outputs: dict[str, Any], aws_client: Callable[[str], Any], role: str
) -> None:
    # Given the stack's function for this role
    function = outputs[f"{role.capitalize()}FunctionName"]
    # When its configuration is read
    configuration = aws_client("lambda").get_function_configuration(FunctionName=function)
    # Then it runs as that role, so what these tests allow and deny is what the function can do
    assert configuration["Role"] == outputs[ROLE_OUTPUTS[role]]


def test_the_roles_suffice_for_the_whole_write_path(api: Api, stack: Stack) -> None:
    # Given the stack running with IAM enforced
    # When a purchase goes through the whole path (sender -> queue -> writer -> table -> reader)
    purchase_id, _ = api.create_readable()
    # Then it arrives: the roles are sufficient for the service, not only for the probes above
    assert stack.raw_item(purchase_id) is not None
