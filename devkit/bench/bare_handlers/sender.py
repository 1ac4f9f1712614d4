"""Bare sender for the benchmark's baseline: no validation, no idempotency, no ordering stamp, no Powertools."""

import json
import os
import uuid
from typing import Any

import boto3

queue_url = os.environ["QUEUE_URL"]
sqs = boto3.client("sqs")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("httpMethod") == "OPTIONS":  # the warm-up's CORS preflight
        return {"statusCode": 204, "body": ""}
    purchase = json.loads(event["body"])
    purchase["ProductPurchaseId"] = purchase_id = str(uuid.uuid4())
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(purchase))
    print(
        "accepted", purchase_id
    )  # one log line, as the real sender writes (MiniStack waits on silent functions)
    return {"statusCode": 202, "body": json.dumps({"ProductPurchaseId": purchase_id})}
