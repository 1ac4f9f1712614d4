"""Unit-test fixtures: API Gateway and SQS event factories, in-memory ports, moto-backed AWS.

Nothing here reaches the network: API tests run the handlers against in-memory ports, adapter tests
against moto, with fake credentials so a slip cannot touch a real account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws
from template_stack import DEV, PROD_WITH_DOMAIN, TEMPLATE, Stack, Template, sam_transform

from devkit.core.template import load_template

# The handler modules read their configuration once, at import: it must be in place before any
# test module imports them (conftest runs first).
os.environ.update(
    {
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unit-test-queue",
        "TABLE_NAME": "unit-test-purchases",
        "IDEMPOTENCY_TABLE_NAME": "unit-test-idempotency",
        "WRITE_SIGNING_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/unit-test-write-signing-key",
        "STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "product-purchase",
        "POWERTOOLS_METRICS_NAMESPACE": "ProductPurchase",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from purchases.adapters.dynamodb import DynamoDbPurchaseStore
from purchases.commands import PurchaseCommands
from purchases.messages import WriteMessage, encode_checked
from purchases.model import AttributeValue
from purchases.ordering import should_apply
from purchases.ports import (
    InvalidCursor,
    Page,
    PurchaseStore,
    RecordHead,
    RecordState,
    StoredPurchase,
    WriteOutcome,
)
from purchases.schema import ID_FIELD
from purchases.signing import mac_input
from seed.send import load_samples

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_sqs.client import SQSClient

ApiEventFactory = Callable[..., dict[str, Any]]
SqsEventFactory = Callable[..., dict[str, Any]]

FIXED_STAMP = 1_700_000_000_000_000_000
# The app client the API's Cognito authorizer found in the caller's token (requestContext.authorizer.claims).
CLIENT_ID = "unittestclient0000000000001"


_table_numbers = itertools.count(1)


def table_from_template(
    dynamodb_resource: DynamoDBServiceResource, logical_id: str, name_prefix: str
) -> Table:
    """A fresh moto table shaped like the template's table `logical_id` (read from template.yaml): its key and its
    indexes, under a name no other test uses."""
    from devkit.core.template import load_template

    properties: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    indexes = properties.get("GlobalSecondaryIndexes")
    return dynamodb_resource.create_table(
        TableName=f"{name_prefix}-{next(_table_numbers)}",
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        BillingMode="PAY_PER_REQUEST",
    )


def valid_purchase_document() -> dict[str, Any]:
    """A purchase body every rule accepts (one of the original system's samples)."""
    return load_samples()[0]


@pytest.fixture
def purchase_document() -> dict[str, Any]:
    return valid_purchase_document()


class FakeLambdaContext(LambdaContext):
    def __init__(self) -> None:
        self._function_name = "unit-test-function"
        self._function_version = "$LATEST"
        self._invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:unit-test-function"
        self._memory_limit_in_mb = 128
        self._aws_request_id = "unit-test-invocation"
        self._log_group_name = "/aws/lambda/unit-test-function"
        self._log_stream_name = "unit-test-stream"
        # What get_remaining_time_in_millis answers; tests of the writer's time budget change it.
        self.remaining_ms = 10_000

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def api_event() -> ApiEventFactory:
    """Builds REST API (payload 1.0) proxy events with lower-case header names, as the local engine
    sends them, from a caller the Cognito authorizer let in as `client_id` (None: no authorizer claims) with
    `scopes` (space-separated, as the token's scope claim)."""

    def build(
        method: str,
        path: str,
        *,
        body: str | bytes | None = None,
        base64_body: bool = False,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        request_id: str = "request-1",
        lowercase_headers: bool = True,
        client_id: str | None = CLIENT_ID,
        scopes: str = "purchases/read purchases/write",
    ) -> dict[str, Any]:
        lower_headers = {
            (name.lower() if lowercase_headers else name): value for name, value in (headers or {}).items()
        }
        if isinstance(body, bytes) or base64_body:
            raw = body.encode() if isinstance(body, str) else body or b""
            encoded_body: str | None = base64.b64encode(raw).decode()
        else:
            encoded_body = body
        is_item = path.count("/") >= 2
        resource = "/product-purchase/{id}" if is_item else "/product-purchase"
        return {
            "version": "1.0",
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": lower_headers,
            "multiValueHeaders": {name: [value] for name, value in lower_headers.items()},
            "queryStringParameters": dict(query) if query else None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": {"id": path.rsplit("/", 1)[-1]} if is_item else None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "resourceId": "abc123",
                "stage": "dev",
                "requestId": request_id,
                "requestTimeEpoch": 1_700_000_000_000,
                "path": f"/dev{path}",
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest"},
                "resourcePath": resource,
                "httpMethod": method,
                "apiId": "unit-test-api",
                **(
                    {
                        "authorizer": {
                            "claims": {
                                "client_id": client_id,
                                "scope": scopes,
                                "token_use": "access",
                            }
                        }
                    }
                    if client_id is not None
                    else {}
                ),
            },
            "body": encoded_body,
            "isBase64Encoded": encoded_body is not None and (isinstance(body, bytes) or base64_body),
        }

    return build


class InMemoryMessageAuthenticator:
    """`MessageSigner` and `MessageVerifier` with a secret of its own (HMAC-SHA-256, as the KMS key), counting its
    calls."""

    def __init__(self, secret: bytes = b"unit-test write-signing secret") -> None:
        self._secret = secret
        self.signed = 0
        self.verified = 0

    def sign(self, body: str) -> bytes:
        self.signed += 1
        return hmac.new(self._secret, mac_input(body), hashlib.sha256).digest()

    def verify(self, body: str, mac: bytes) -> bool:
        self.verified += 1
        return hmac.compare_digest(hmac.new(self._secret, mac_input(body), hashlib.sha256).digest(), mac)


# The one key the unit tests' sender signs with and writer verifies with (installed by the handler tests).
WRITE_SIGNING = InMemoryMessageAuthenticator()


def record_attributes(mac: bytes | None) -> dict[str, Any]:
    """A Lambda SQS record's `messageAttributes` carrying `mac` (none: an unsigned message)."""
    if mac is None:
        return {}
    from purchases.signing import MAC_ATTRIBUTE

    return {
        MAC_ATTRIBUTE: {
            "stringValue": base64.b64encode(mac).decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }


@pytest.fixture(autouse=True)
def writer_verifies_in_memory() -> Iterator[None]:
    """The writer (once a test module imported it) verifies with `WRITE_SIGNING` instead of KMS."""
    writer = sys.modules.get("writer")
    if writer is None:
        yield
        return
    writer.verifier.override(WRITE_SIGNING)
    yield
    writer.verifier.override(None)


@pytest.fixture
def sqs_event() -> SqsEventFactory:
    """Builds SQS events; each record is (messageId, body), signed as the sender signs it (`WRITE_SIGNING`), or
    (messageId, body, messageAttributes) to choose what it carries."""

    def build(*records: tuple[str, str] | tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": message_id,
                    "receiptHandle": f"receipt-{message_id}",
                    "body": body,
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1700000000000",
                        "SenderId": "AIDAEXAMPLE",
                        "ApproximateFirstReceiveTimestamp": "1700000000001",
                    },
                    "messageAttributes": (
                        record[2] if len(record) == 3 else record_attributes(WRITE_SIGNING.sign(body))
                    ),
                    "md5OfBody": "unused",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:unit-test-queue",
                    "awsRegion": "us-east-1",
                }
                for record in records
                for message_id, body in [record[:2]]
            ]
        }

    return build


class InMemoryPurchaseStore:
    """`PurchaseStore` in a dict, applying writes with the same ordering rules as the table."""

    def __init__(self) -> None:
        self.records: dict[str, StoredPurchase] = {}
        self.digests: dict[str, str] = {}
        self.reads = 0

    def get(self, purchase_id: str) -> StoredPurchase | None:
        self.reads += 1
        return self.records.get(purchase_id)

    def head(self, purchase_id: str) -> RecordHead:
        self.reads += 1
        record = self.records.get(purchase_id)
        if record is None:
            return RecordHead(RecordState.ABSENT)
        if record.deleted:
            return RecordHead(RecordState.DELETED, record.owner)
        return RecordHead(RecordState.LIVE, record.owner, self.digests.get(purchase_id))

    def page(self, limit: int, cursor: str | None) -> Page:
        return self._page([record for record in self.records.values() if not record.deleted], limit, cursor)

    def owned_page(self, owner: str, limit: int, cursor: str | None) -> Page:
        owned = [record for record in self.records.values() if not record.deleted and record.owner == owner]
        return self._page(owned, limit, cursor)

    @staticmethod
    def _page(live: list[StoredPurchase], limit: int, cursor: str | None) -> Page:
        try:
            start = int(cursor) if cursor is not None else 0
        except ValueError:
            raise InvalidCursor(cursor) from None
        chunk = live[start : start + limit]
        more = start + limit < len(live)
        return Page(
            items=[record.attributes for record in chunk], next_cursor=str(start + limit) if more else None
        )

    def apply_write(self, message: WriteMessage) -> WriteOutcome:
        existing = self.records.get(message.purchase_id)
        if not should_apply(existing, message):
            return WriteOutcome.SUPERSEDED
        attributes: dict[str, AttributeValue] = {ID_FIELD: message.purchase_id}
        if message.purchase is not None:
            attributes.update(message.purchase.attributes())
        self.records[message.purchase_id] = StoredPurchase(
            purchase_id=message.purchase_id,
            attributes=attributes,
            version=message.stamp,
            deleted=message.purchase is None,
            owner=message.owner,
        )
        if message.purchase is not None:
            self.digests[message.purchase_id] = message.purchase.digest()
        return WriteOutcome.APPLIED


class RecordingWriteQueue:
    def __init__(self, sent: list[WriteMessage]) -> None:
        self._sent = sent
        self._ids = itertools.count(1)

    def enqueue_write(self, message: WriteMessage) -> str:
        # As the SQS adapter does: only what the writer's decoder accepts is queued.
        encode_checked(message)
        self._sent.append(message)
        return f"message-{next(self._ids)}"


@pytest.fixture
def store() -> PurchaseStore:
    return InMemoryPurchaseStore()


@pytest.fixture
def enqueued() -> list[WriteMessage]:
    """Every write message the code under test queued, in order."""
    return []


@pytest.fixture
def clock() -> Iterator[int]:
    """Strictly increasing stamps, so tests can tell writes apart and order them."""
    return itertools.count(FIXED_STAMP)


@pytest.fixture
def commands(store: PurchaseStore, enqueued: list[WriteMessage], clock: Iterator[int]) -> PurchaseCommands:
    return PurchaseCommands(store=store, queue=RecordingWriteQueue(enqueued), clock=lambda: next(clock))


@pytest.fixture(scope="module")
def mocked_aws() -> Iterator[None]:
    """moto, with fake credentials, for one test module: starting it per test costs ~0.3 s, and it
    must not outlive the unit tests (a later suite in the same session may need real endpoints)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
            patch.delenv(name, raising=False)
        with mock_aws():
            yield


@pytest.fixture(scope="module")
def dynamodb_resource(mocked_aws: None) -> DynamoDBServiceResource:
    return boto3.resource("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb_table(dynamodb_resource: DynamoDBServiceResource) -> Iterator[Table]:
    """A fresh moto table shaped like the template's PurchaseTable: its key and its indexes."""
    table = table_from_template(dynamodb_resource, "PurchaseTable", "unit-test-purchases")
    yield table
    table.delete()


@pytest.fixture
def sqs_client(mocked_aws: None) -> SQSClient:
    return boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def dynamodb_store(dynamodb_table: Table) -> DynamoDbPurchaseStore:
    return DynamoDbPurchaseStore(lambda: dynamodb_table)


@pytest.fixture
def calls(dynamodb_table: Table) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB API call made through the table's client: (operation, parameters)."""
    made: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, params))

    events = dynamodb_table.meta.client.meta.events
    events.register("provide-client-params.dynamodb.*", record)
    yield made
    events.unregister("provide-client-params.dynamodb.*", record)


# The template, read and SAM-transformed once per run for every template test.


@pytest.fixture(scope="session")
def source() -> Template:
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def inlined() -> Template:
    return load_template(TEMPLATE, inline_includes=True)


@pytest.fixture(scope="session")
def transformed_dev(inlined: Template) -> Template:
    return sam_transform(inlined, DEV)


@pytest.fixture(scope="session")
def dev(transformed_dev: Template) -> Stack:
    return Stack(transformed_dev, DEV)


@pytest.fixture(scope="session")
def prod(inlined: Template) -> Stack:
    return Stack(sam_transform(inlined, PROD_WITH_DOMAIN), PROD_WITH_DOMAIN)


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Stack, prod: Stack) -> Stack:
    return dev if request.param == "dev" else prod
