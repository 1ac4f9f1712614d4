"""Bare $connect authorizer for the benchmark's baseline: refuses everyone (nothing connects during a benchmark)."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "principalId": "nobody",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event.get("methodArn")}
            ],
        },
    }
