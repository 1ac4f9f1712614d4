"""`MessageSigner` and `MessageVerifier` on a KMS HMAC key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import boto3
from botocore.exceptions import ClientError

from purchases.adapters.clients import CallBudget
from purchases.signing import mac_input

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

MAC_ALGORITHM: Final = "HMAC_SHA_256"
# What KMS answers VerifyMac when the MAC is not the key's MAC of the message.
_INVALID_MAC: Final = "KMSInvalidMacException"


def lazy_kms_client(budget: CallBudget) -> Callable[[], KMSClient]:
    """A factory building the KMS client on first use, then always returning that one."""

    @functools.cache
    def client() -> KMSClient:
        return boto3.client("kms", config=budget.config())

    return client


class KmsMessageAuthenticator:
    """Signs (GenerateMac) and verifies (VerifyMac) write messages with one key; which of the two a role may call
    is the key policy's business."""

    def __init__(self, key_id: str, client: Callable[[], KMSClient]) -> None:
        self._key_id = key_id
        self._client = client

    def sign(self, body: str) -> bytes:
        response = self._client().generate_mac(
            KeyId=self._key_id, Message=mac_input(body), MacAlgorithm=MAC_ALGORITHM
        )
        return response["Mac"]

    def verify(self, body: str, mac: bytes) -> bool:
        try:
            response = self._client().verify_mac(
                KeyId=self._key_id, Message=mac_input(body), MacAlgorithm=MAC_ALGORITHM, Mac=mac
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _INVALID_MAC:
                return False
            raise
        return bool(response["MacValid"])
