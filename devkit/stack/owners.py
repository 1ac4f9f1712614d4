"""Giving purchases stored before owners were kept an owner, so their client (or an administrator) finds them.

A purchase without `ClientId` is visible to administrators only; a live one without `ListedFor` is in no caller's
list. The backfill pages through the table once (a Scan, through boto3's paginator) and, item by item, with a
conditional update that never overwrites an owner:

- no owner: the `--owner` client becomes its owner (and, if live, the key of that owner's list);
- an owner but, live, not in its owner's list (written before the list was partitioned by owner): listed for the
  owner it has.

An item a writer changed between the scan and the update fails its condition and is counted, not forced; running
the backfill again picks up whatever is still left. The attribute names are the DynamoDB adapter's.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from devkit.core.project import HANDLERS, ToolingError
from devkit.engines import Engine
from devkit.stack.auth import describe_app_client

# The attribute names are the DynamoDB adapter's, imported, never restated (the handlers' folder is the functions'
# code root, so its packages import as top-level ones there and here alike).
if str(HANDLERS) not in sys.path:
    sys.path.append(str(HANDLERS))

from purchases.adapters.dynamodb import CLIENT_ID, DELETED, LISTED, LISTED_FOR
from purchases.messages import MAX_CLIENT_ID_LENGTH
from purchases.schema import ID_FIELD

_PROJECTION: Final = "#id, #owner, #listed, #listed_for, #deleted"
_NAMES: Final = {
    "#id": ID_FIELD,
    "#owner": CLIENT_ID,
    "#listed": LISTED,
    "#listed_for": LISTED_FOR,
    "#deleted": DELETED,
}


@dataclass
class BackfillReport:
    scanned: int = 0
    # Items that had no owner and now have `--owner`.
    owned: int = 0
    # Live items that had an owner and are now in that owner's list.
    listed: int = 0
    # Items that needed nothing.
    unchanged: int = 0
    # Items changed by a writer between the scan and the update: left as they are (run again to revisit them).
    changed_meanwhile: int = 0


def backfill_owners(engine: Engine, outputs: Mapping[str, Any], owner: str) -> BackfillReport:
    """Set the owner (and list key) of every purchase that lacks one; see the module docstring."""
    table = outputs.get("TableName")
    if not table:
        raise ToolingError("The stack outputs have no TableName: deploy the stack again.")
    _check_owner(engine, outputs, owner)
    dynamodb = engine.client("dynamodb")
    report = BackfillReport()
    try:
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=str(table), ProjectionExpression=_PROJECTION, ExpressionAttributeNames=_NAMES
        )
        for page in pages:
            for item in page.get("Items", []):
                report.scanned += 1
                _backfill_item(dynamodb, str(table), item, owner, report)
    except (BotoCoreError, ClientError) as error:
        raise ToolingError(
            f"The backfill stopped after {report.scanned} item(s) ({error}); it is safe to run again."
        ) from None
    return report


def _check_owner(engine: Engine, outputs: Mapping[str, Any], owner: str) -> None:
    """`owner` must be an app client of the stage's user pool: a typo would hand the purchases to nobody."""
    if not 0 < len(owner) <= MAX_CLIENT_ID_LENGTH or not owner.isalnum():
        raise ToolingError(f"--owner {owner!r} is not an app client id (letters and digits, at most 128).")
    pool = outputs.get("UserPoolId")
    if not pool:
        raise ToolingError("The stack outputs have no UserPoolId: deploy the stack again.")
    if describe_app_client(engine, str(pool), owner) is None:
        raise ToolingError(
            f"--owner {owner} is not an app client of user pool {pool}: list them with `invoke consumer.list`."
        )


def _backfill_item(
    dynamodb: Any, table: str, item: Mapping[str, Any], owner: str, report: BackfillReport
) -> None:
    key = {ID_FIELD: item[ID_FIELD]}
    live = LISTED in item
    if CLIENT_ID not in item:
        # Live: owned and listed for the owner, only while still live and unowned; a tombstone: owned only, only
        # while still a tombstone (a tombstone must never enter a list).
        if live:
            update = "SET #owner = :owner, #listed_for = :owner"
            condition = "attribute_not_exists(#owner) AND attribute_exists(#listed)"
            names = {"#owner": CLIENT_ID, "#listed_for": LISTED_FOR, "#listed": LISTED}
        else:
            update = "SET #owner = :owner"
            condition = "attribute_not_exists(#owner) AND attribute_not_exists(#listed)"
            names = {"#owner": CLIENT_ID, "#listed": LISTED}
        values: dict[str, Any] = {":owner": {"S": owner}}
        counter = "owned"
    elif live and LISTED_FOR not in item:
        update = "SET #listed_for = #owner"
        condition = (
            "attribute_exists(#owner) AND attribute_exists(#listed) AND attribute_not_exists(#listed_for)"
        )
        names = {"#owner": CLIENT_ID, "#listed_for": LISTED_FOR, "#listed": LISTED}
        values = {}
        counter = "listed"
    else:
        report.unchanged += 1
        return
    arguments: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
    }
    if values:
        arguments["ExpressionAttributeValues"] = values
    try:
        dynamodb.update_item(**arguments)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        report.changed_meanwhile += 1
        return
    setattr(report, counter, getattr(report, counter) + 1)
