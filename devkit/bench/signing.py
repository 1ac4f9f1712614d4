"""What signing costs a write (`invoke bench-signing`): the sender's KMS GenerateMac and the writer's KMS VerifyMac,
timed through the handlers' own adapter as the stack's own roles, against the two calls every write already makes
(SQS SendMessage, DynamoDB PutItem) in the same run, interleaved round by round so a busy machine slows both alike.

The baseline's calls go to a queue and a table made for the run (and deleted afterwards), with the engine's
credentials; the signing calls use the stack's write-signing key, as the sender's and the writer's roles. Local
engines only (on AWS those roles trust only Lambda).
"""

from __future__ import annotations

import base64
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from devkit.bench.stats import Distribution
from devkit.core.project import HANDLERS, ToolingError, stack_name
from devkit.engines import Engine
from devkit.stack.outputs import reachable_outputs
from devkit.stack.signed_writes import KEY_OUTPUT, SenderRole, role_clients

if str(HANDLERS) not in sys.path:
    sys.path.append(str(HANDLERS))

from purchases.adapters.kms import KmsMessageAuthenticator

# KMS's price for GenerateMac and VerifyMac requests (US regions; https://aws.amazon.com/kms/pricing/), after the
# 20,000 free requests a month; the key itself costs $1 a month.
KMS_USD_PER_10K_REQUESTS: Final = 0.03
KMS_REQUESTS_PER_WRITE: Final = 2
WARM_UP_ROUNDS: Final = 10
# A write-message body of typical size (the sample purchase's create is about 500 bytes).
_BODY: Final = (
    '{"action":"create","id":"00000000-0000-4000-8000-000000000000","purchase":' + '"x"' * 150 + "}"
)


@dataclass(frozen=True)
class SigningCost:
    rounds: int
    send_message: Distribution
    put_item: Distribution
    generate_mac: Distribution
    verify_mac: Distribution

    @property
    def added_ms_p50(self) -> float:
        return (self.generate_mac.p50 or 0.0) + (self.verify_mac.p50 or 0.0)

    @property
    def baseline_ms_p50(self) -> float:
        return (self.send_message.p50 or 0.0) + (self.put_item.p50 or 0.0)

    @property
    def ratio_p50(self) -> float | None:
        """What signing adds to a write's queue and table calls, as a share of them (0.5 = half as much again)."""
        return self.added_ms_p50 / self.baseline_ms_p50 if self.baseline_ms_p50 else None

    @property
    def usd_per_10k_writes(self) -> float:
        return KMS_REQUESTS_PER_WRITE * KMS_USD_PER_10K_REQUESTS

    def format(self) -> str:
        def row(name: str, distribution: Distribution) -> str:
            return f"  {name:<34}{distribution.p50 or 0:>8.2f}{distribution.p95 or 0:>8.2f} ms"

        ratio = self.ratio_p50
        return "\n".join(
            [
                f"Signing cost per write, {self.rounds} interleaved rounds (p50, p95):",
                row("SQS SendMessage (baseline)", self.send_message),
                row("DynamoDB PutItem (baseline)", self.put_item),
                row("KMS GenerateMac (sender)", self.generate_mac),
                row("KMS VerifyMac (writer)", self.verify_mac),
                f"  Added per write at p50: {self.added_ms_p50:.2f} ms = "
                + (f"{ratio:.2f} x the write's SendMessage + PutItem" if ratio is not None else "n/a"),
                f"  KMS requests: {KMS_REQUESTS_PER_WRITE} per write = ${self.usd_per_10k_writes:.2f} per 10,000 "
                f"writes (${KMS_USD_PER_10K_REQUESTS} per 10,000 requests) + $1 a month for the key",
            ]
        )


def run_signing_bench(
    engine: Engine, stage: str, *, rounds: int, progress: Callable[[str], None] = print
) -> SigningCost:
    if engine.name == "aws":
        raise ToolingError(
            "bench-signing runs on the local engines: on AWS the function roles trust only Lambda."
        )
    if rounds < 1:
        raise ToolingError("--rounds must be at least 1.")
    outputs = reachable_outputs(engine, stage)
    if not outputs.get(KEY_OUTPUT):
        raise ToolingError(
            f"Stack {stack_name(stage)} has no write-signing key: deploy it again (`invoke up`)."
        )
    sender = SenderRole(engine, outputs)
    as_writer = role_clients(engine, str(outputs["WriterRoleArn"]))
    writer_key = KmsMessageAuthenticator(str(outputs[KEY_OUTPUT]), lambda: as_writer("kms"))
    sqs, dynamodb = engine.client("sqs"), engine.client("dynamodb")
    name = f"bench-signing-{uuid.uuid4().hex[:12]}"
    queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        mac = sender.attributes(_BODY)  # builds the roles' clients before the clock starts
        mac_bytes = base64.b64decode(next(iter(mac.values()))["StringValue"])
        calls: dict[str, Callable[[], Any]] = {
            "send": lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=_BODY),
            "put": lambda: dynamodb.put_item(
                TableName=name, Item={"id": {"S": uuid.uuid4().hex}, "body": {"S": _BODY}}
            ),
            "generate": lambda: sender.attributes(_BODY),
            "verify": lambda: _verified(writer_key, mac_bytes),
        }
        timings: dict[str, list[float]] = {call: [] for call in calls}
        order = list(calls)
        progress(f"Timing {rounds} rounds of SendMessage, PutItem, GenerateMac and VerifyMac ...")
        for number in range(WARM_UP_ROUNDS + rounds):
            # A different call first each round: none always runs on a connection the previous one warmed.
            shift = number % len(order)
            for call in order[shift:] + order[:shift]:
                started = time.perf_counter()
                calls[call]()
                elapsed = time.perf_counter() - started
                if number >= WARM_UP_ROUNDS:
                    timings[call].append(elapsed)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
        dynamodb.delete_table(TableName=name)
    return SigningCost(
        rounds=rounds,
        send_message=Distribution.of_seconds(timings["send"]),
        put_item=Distribution.of_seconds(timings["put"]),
        generate_mac=Distribution.of_seconds(timings["generate"]),
        verify_mac=Distribution.of_seconds(timings["verify"]),
    )


def _verified(key: KmsMessageAuthenticator, mac: bytes) -> None:
    if not key.verify(_BODY, mac):
        raise ToolingError(
            "The writer's role could not verify the sender's MAC: is the stack deployed as it is?"
        )
