"""The writer applies only what the sender queued. A principal other than the sender (an operator, a deploy role)
holding full SQS and KMS rights in its own policies can neither queue a write (the queue's policy) nor sign one (the
key's policy); and a forged write that reaches the queue anyway, here through the DLQ redrive path, is not applied:
the writer refuses its MAC and the queue dead-letters it.

The forgery is the one the MAC exists for: an update of the development client's purchase, and a create in its name,
queued by someone else with the development client named as owner.

The operator: on the local engines a role made here with `sqs:*`, `kms:*` and `dynamodb:*` on everything in its
own policy (assumed with the engine's root credentials, as tests/e2e/test_iam.py assumes the function roles); on AWS,
whoever runs the suite (the stage's deploy role in CI). Putting a forged message on the queue needs a principal the
queue lets through, which only the local engine's root is; that test runs on the local engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.engines import Engine
from devkit.stack import dlq
from purchases.adapters.kms import MAC_ALGORITHM
from purchases.signing import mac_input

from .messages import new_id, stamp_after, write_message
from .support import Api, Stack, eventually, unique_token

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"})
ATTACKER = f"e2e-attacker-{unique_token()}"


@pytest.fixture(scope="module")
def operator(
    outputs: dict[str, Any], engine: Engine, aws_client: Callable[[str], Any]
) -> Iterator[Callable[[str], Any]]:
    """A client factory acting as the operator (see the module's docstring)."""
    if outputs["Engine"] == "aws":
        yield aws_client
        return
    iam, name = aws_client("iam"), f"e2e-operator-{unique_token()}"
    account = aws_client("sts").get_caller_identity()["Account"]
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName=name,
        PolicyName="operate-everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["sqs:*", "kms:*", "dynamodb:*"], "Resource": "*"}
                ],
            }
        ),
    )
    try:
        credentials = aws_client("sts").assume_role(
            RoleArn=iam.get_role(RoleName=name)["Role"]["Arn"], RoleSessionName=name
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=outputs["Region"],
        )

        def client(service: str) -> Any:
            return session.client(  # type: ignore[call-overload]
                service, endpoint_url=engine.endpoint_url(), config=Config(retries={"max_attempts": 1})
            )

        yield client
    finally:
        iam.delete_role_policy(RoleName=name, PolicyName="operate-everything")
        iam.delete_role(RoleName=name)


@pytest.fixture
def victims_purchase(api: Api, stack: Stack) -> tuple[str, dict[str, Any]]:
    """A purchase of the development client's, as the writer stored it."""
    purchase_id, _ = api.create_readable()
    stored = stack.raw_item(purchase_id)
    assert stored is not None and stored["ClientId"] == api.client_id()
    return purchase_id, stored


def forgeries(victim: str, purchase_id: str, make_purchase: Callable[..., dict[str, Any]]) -> dict[str, str]:
    """Writes the sender never queued, naming `victim` as owner: an update of its purchase and a create in its name."""
    planted_id = new_id()
    return {
        purchase_id: write_message(
            "update", purchase_id, stamp_after(0), make_purchase(ProductName="Forged"), owner=victim
        ).replace(f'"clientId":"{victim}"', f'"clientId":"{ATTACKER}"'),
        planted_id: write_message(
            "create", planted_id, stamp_after(0), make_purchase(ProductName="Planted"), owner=victim
        ),
    }


def error_code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return None


def test_an_operator_cannot_queue_a_write_naming_another_client_as_owner(
    api: Api,
    stack: Stack,
    operator: Callable[[str], Any],
    victims_purchase: tuple[str, dict[str, Any]],
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given the development client's purchase, and an operator whose own policies allow every SQS action
    purchase_id, stored = victims_purchase
    forged = forgeries(api.client_id(), purchase_id, new_purchase)

    # When the operator puts forged writes on the queue
    def send(body: str) -> Callable[[], Any]:
        return lambda: operator("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=body)

    codes = [error_code(send(body)) for body in forged.values()]

    # Then the queue refuses them (its policy leaves SendMessage to the sender's role)
    assert set(codes) <= DENIED_CODES and None not in codes, codes
    # And the purchase is as the development client left it
    stack.wait_queue_empty()
    assert stack.raw_item(purchase_id) == stored


def test_an_operator_cannot_sign_a_write(
    stack: Stack, outputs: dict[str, Any], operator: Callable[[str], Any]
) -> None:
    # Given an operator whose own policies allow every KMS action
    # When it asks the write-signing key for a MAC
    code = error_code(
        lambda: operator("kms").generate_mac(
            KeyId=outputs["WriteSigningKeyArn"], Message=mac_input("{}"), MacAlgorithm=MAC_ALGORITHM
        )
    )
    # Then the key refuses (its policy lets only the sender's role make one)
    assert code in DENIED_CODES, code


def test_a_forged_write_that_reaches_the_queue_is_dead_lettered_not_applied(
    api: Api,
    stack: Stack,
    engine: Engine,
    outputs: dict[str, Any],
    operator: Callable[[str], Any],
    victims_purchase: tuple[str, dict[str, Any]],
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    if outputs["Engine"] == "aws":
        pytest.skip("On AWS nothing but the sender and SQS's own redrive can put a message on the queue.")
    # Given the development client's purchase, and forged writes naming it as owner: unsigned, and one carrying the
    # sender's MAC of the attacker's own write, rewritten afterwards to name the development client
    victim = api.client_id()
    purchase_id, stored = victims_purchase
    forged = forgeries(victim, purchase_id, new_purchase)
    own_write = write_message(
        "update", purchase_id, stamp_after(0), new_purchase(ProductName="Own"), owner=ATTACKER
    )
    tampered = own_write.replace(f'"{ATTACKER}"', f'"{victim}"')
    signed_for_own = stack.sender().attributes(own_write)  # the sender's MAC of its own write
    bodies = {*forged.values(), tampered}

    # When the operator plants them in the dead-letter queue (no queue policy there) and the DLQ is redriven, as
    # `invoke dlq --redrive` does, onto the write queue
    dlq_url = stack.dlq_url
    for body in forged.values():
        operator("sqs").send_message(QueueUrl=dlq_url, MessageBody=body)
    operator("sqs").send_message(QueueUrl=dlq_url, MessageBody=tampered, MessageAttributes=signed_for_own)
    try:
        moved = dlq.redrive(engine, outputs, progress=lambda _line: None)
        assert moved >= len(bodies)

        # Then each is refused by the writer until the queue dead-letters it again
        receives = int(
            json.loads(
                stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])[
                    "Attributes"
                ]["RedrivePolicy"]
            )["maxReceiveCount"]
        )
        deadline = (receives + 1) * stack.visibility_timeout() + 15

        def all_dead_lettered() -> bool | None:
            dead = {message["Body"] for message in stack.dead_letters()}
            return True if bodies <= dead else None

        eventually(all_dead_lettered, "the forged writes to be dead-lettered", timeout=deadline)
    finally:
        stack.remove_dead_letters(lambda body: body in bodies)

    # And none was applied: the purchase is unchanged, and nothing was created in the development client's name
    assert stack.raw_item(purchase_id) == stored
    planted_id = next(key for key in forged if key != purchase_id)
    assert api.get(planted_id).status == 404
    assert stack.raw_item(planted_id) is None


# ---------------------------------------------------------------------------------------------- engine gaps
# What MiniStack does differently here (docs/emulator-differences.md), pinned so the page stays true: each test fails
# once the engine behaves like AWS, and the work-around can go.


@pytest.fixture
def on_ministack(outputs: dict[str, Any]) -> None:
    if outputs["Engine"] != "ministack":
        pytest.skip("A MiniStack gap.")


@pytest.mark.usefixtures("on_ministack")
def test_ministack_gap_root_credentials_pass_the_key_policy(
    outputs: dict[str, Any], aws_client: Callable[[str], Any]
) -> None:
    # Given the engine's root credentials, which the key policy does not let make MACs (AWS refuses them)
    # When they ask for one, then MiniStack makes it: the tooling signs as the sender's role instead, and the tests
    # prove the key policy with a role (test_an_operator_cannot_sign_a_write)
    code = error_code(
        lambda: aws_client("kms").generate_mac(
            KeyId=outputs["WriteSigningKeyArn"], Message=mac_input("{}"), MacAlgorithm=MAC_ALGORITHM
        )
    )
    assert code is None


@pytest.mark.usefixtures("on_ministack")
def test_ministack_gap_a_batch_send_is_an_action_of_its_own(stack: Stack) -> None:
    # Given the sender's role, allowed sqs:SendMessage on the queue (which on AWS covers SendMessageBatch)
    # When it sends a batch, then MiniStack asks for sqs:SendMessageBatch, which no policy grants: the tooling sends
    # one message per call (devkit/stack/signed_writes.py)
    code = error_code(
        lambda: (
            stack.sender()
            .client("sqs")
            .send_message_batch(QueueUrl=stack.queue_url, Entries=[{"Id": "1", "MessageBody": "{}"}])
        )
    )
    assert code in DENIED_CODES, code
