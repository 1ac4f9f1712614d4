"""Verifying a Cognito access token: signature against the user pool's published keys (JWKS), issuer, expiry,
token use and scope. PyJWT does the cryptography and caches the keys; this module only states the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import jwt

# RS256 is what Cognito signs with; naming it refuses alg=none and HMAC-with-the-public-key tricks.
_ALGORITHMS: Final = ["RS256"]
_JWKS_TIMEOUT_SECONDS: Final = 3
_JWKS_CACHE_SECONDS: Final = 3600


class InvalidToken(Exception):
    """The token is missing, malformed, expired, from another issuer, or lacks the scope."""


@dataclass(frozen=True, slots=True)
class Caller:
    client_id: str
    scopes: frozenset[str]
    # The token's `exp` (epoch seconds): a WebSocket opened with it is closed after that.
    expires_at: int


class AccessTokenVerifier:
    def __init__(self, *, issuer: str, jwks_url: str, required_scope: str) -> None:
        self._issuer = issuer
        self._required_scope = required_scope
        self._keys = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=_JWKS_CACHE_SECONDS, timeout=_JWKS_TIMEOUT_SECONDS
        )

    def verify(self, token: str | None) -> Caller:
        if not token:
            raise InvalidToken("no token")
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "token_use"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from None
        if claims.get("token_use") != "access":
            raise InvalidToken("not an access token")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if self._required_scope not in scopes:
            raise InvalidToken(f"scope {self._required_scope} missing")
        client_id = str(claims.get("client_id") or claims.get("sub") or "")
        if not client_id:
            raise InvalidToken("no client_id")
        return Caller(client_id=client_id, scopes=scopes, expires_at=int(claims["exp"]))
