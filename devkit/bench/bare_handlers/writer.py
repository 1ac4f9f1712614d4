"""Bare writer for the benchmark's baseline: one unconditional put per record."""

import json
import os
from decimal import Decimal
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for record in event.get("Records", []):
        table.put_item(Item=json.loads(record["body"], parse_float=Decimal))
    print("written", len(event.get("Records", [])))
    return {"batchItemFailures": []}
