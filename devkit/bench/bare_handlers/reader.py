"""Bare reader for the benchmark's baseline: one get per request."""

import json
import os
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    purchase_id = (event.get("pathParameters") or {}).get("id") or ""
    item = table.get_item(Key={"ProductPurchaseId": purchase_id}).get("Item") if purchase_id else None
    print("read", purchase_id)
    if purchase_id and item is None:
        return {"statusCode": 404, "body": "{}"}
    return {"statusCode": 200, "body": json.dumps(item or [], default=str)}
