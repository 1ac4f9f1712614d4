"""Writes put straight on the queue by tooling, queued as the sender queues them: by the sender's role, each body
signed with the stack's write-signing key. The one way tooling injects writes: the end-to-end suite's ordering,
poison-message and redrive tests, `invoke dlq --redrive` where the engine has no message move task, the writer's
warm-up, `invoke event sqs-write`.

The queue admits SendMessage only from the sender's role (its queue policy; even the engine's root credentials are
refused), and the key makes MACs only for that role (its key policy). So the tooling assumes that role, with the
engine's root credentials, and queues and signs as it, through the sender's own adapter (`purchases.adapters.kms`).
That works on the local engines only: MiniStack lets its root assume a role that trusts only Lambda, AWS does not (a
ToolingError says so: there, writes go through the API).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.core.project import HANDLERS, ToolingError
from devkit.engines import Engine

if str(HANDLERS) not in sys.path:
    sys.path.append(str(HANDLERS))

from purchases.adapters.kms import KmsMessageAuthenticator
from purchases.signing import mac_attribute

ROLE_OUTPUT = "SenderRoleArn"
KEY_OUTPUT = "WriteSigningKeyArn"
_SESSION_NAME = "devkit-injected-writes"
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3})


def role_clients(engine: Engine, role_arn: str) -> Callable[[str], Any]:
    """A factory of the engine's clients acting as `role_arn`, assumed with the engine's credentials (a local
    engine's root may assume the stack's function roles; see the module's docstring)."""
    credentials = engine.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=_SESSION_NAME)[
        "Credentials"
    ]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=engine.session().region_name,
    )
    endpoint = engine.endpoint_url()

    @functools.cache
    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)  # type: ignore[call-overload]

    return client


class SenderRole:
    """The stack's sender role, assumed with the engine's credentials: queues and signs write messages as the
    sender does."""

    def __init__(self, engine: Engine, outputs: Mapping[str, Any]) -> None:
        missing = [name for name in (ROLE_OUTPUT, KEY_OUTPUT) if not outputs.get(name)]
        if missing:
            raise ToolingError(
                f"The stack has no {' or '.join(missing)} output: deploy the current template (`invoke up`) first."
            )
        if engine.name == "aws":
            raise ToolingError(
                "On AWS only the sender function may queue and sign writes (its role trusts only Lambda): send them "
                "through the API."
            )
        self.client = role_clients(engine, str(outputs[ROLE_OUTPUT]))
        self._key = KmsMessageAuthenticator(str(outputs[KEY_OUTPUT]), lambda: self.client("kms"))

    def attributes(self, body: str) -> dict[str, dict[str, str]]:
        """The `MessageAttributes` that carry `body`'s MAC, as the sender queues it."""
        try:
            return mac_attribute(self._key.sign(body))
        except ClientError as error:
            raise ToolingError(f"Signing a write message as the sender failed: {error}") from None

    def send(
        self,
        queue_url: str,
        bodies: Iterable[str],
        attributes: Iterable[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Queue `bodies` in order, each signed, or with its entry of `attributes` as it is (a redriven message
        keeps the MAC it had, never gets a new one); returns their message ids.

        One SendMessage per body, never SendMessageBatch: MiniStack authorizes a batch as an action of its own
        (sqs:SendMessageBatch, where AWS checks sqs:SendMessage), which no policy here grants."""
        pending = list(bodies)
        given = list(attributes) if attributes is not None else [None] * len(pending)
        message_ids: list[str] = []
        for body, carried in zip(pending, given, strict=True):
            message_attributes = self.attributes(body) if carried is None else dict(carried)
            reply = self.client("sqs").send_message(
                QueueUrl=queue_url,
                MessageBody=body,
                **({"MessageAttributes": message_attributes} if message_attributes else {}),
            )
            message_ids.append(reply["MessageId"])
        return message_ids
