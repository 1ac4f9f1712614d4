"""REQUEST authorizer of the notification API's $connect: admits a WebSocket only with a valid Cognito access
token (query string `token`) that carries purchases/read, verified against the user pool's published keys. Its
context tells the $connect route whose connection it is: the client id, whether the token has the admin scope,
and when the token expires (the sweep closes the connection then).

It never raises: API Gateway answers an authorizer error with 500, and a refused client must get 401/403.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.config import AuthorizerConfig
from purchases.lazy import Lazy
from purchases.notifications import authorizer_context
from purchases.observability import build_logger, build_tracer
from purchases.ownership import ADMIN_SCOPE
from purchases.tokens import AccessTokenVerifier, InvalidToken

logger = build_logger()
tracer = build_tracer()
config = AuthorizerConfig.from_environ()
verifier: Lazy[AccessTokenVerifier] = Lazy(
    lambda: AccessTokenVerifier(
        issuer=config.issuer, jwks_url=config.jwks_url, required_scope=config.required_scope
    )
)


def policy(
    principal: str, effect: str, resource: str, context: dict[str, str] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        document["context"] = context
    return document


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resource = str(event.get("methodArn", ""))
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        caller = verifier().verify(token)
    except InvalidToken as refused:
        logger.info("Connection refused", extra={"reason": str(refused)})
        return policy("anonymous", "Deny", resource)
    except Exception:
        # The keys could not be fetched, or anything unforeseen: refuse (fail closed), never answer 500.
        logger.exception("Token check failed")
        return policy("anonymous", "Deny", resource)
    logger.info("Connection admitted", extra={"client_id": caller.client_id})
    return policy(caller.client_id, "Allow", resource, authorizer_context(caller, ADMIN_SCOPE))
