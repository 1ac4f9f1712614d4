"""CORS: browsers may call every method from any origin, and error responses carry the headers too."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from .support import Api

ORIGIN = "https://shop.example.com"


def _allowed(header: str | None) -> set[str]:
    return {part.strip().upper() for part in (header or "").split(",") if part.strip()}


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("collection", "POST", {"GET", "POST", "OPTIONS"}),
        ("item", "DELETE", {"GET", "PUT", "DELETE", "OPTIONS"}),
    ],
)
def test_preflight_allows_the_methods_of_each_path(
    api: Api, path: str, method: str, expected: set[str]
) -> None:
    # Given a browser about to send a cross-origin request
    url = api.collection_url if path == "collection" else api.item_url(str(uuid.uuid4()))
    # When it sends the preflight
    # (without credentials: browsers never send them with a preflight)
    reply = api.send(
        "OPTIONS",
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "Content-Type",
        },
        authorization=None,
    )
    # Then any origin is allowed, with every method the API has (DELETE included, unlike the original)
    assert reply.status in {200, 204}, reply
    assert reply.headers.get("access-control-allow-origin") == "*", reply.headers
    methods = _allowed(reply.headers.get("access-control-allow-methods"))
    assert expected <= methods, methods
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods, methods
    assert "CONTENT-TYPE" in _allowed(reply.headers.get("access-control-allow-headers"))


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "item-unknown", 404),
        ("DELETE", "item-unknown", 404),
        ("GET", "item-malformed", 400),
        ("POST", "collection-malformed-body", 400),
        ("GET", "collection-bad-limit", 400),
    ],
)
def test_errors_from_the_handlers_carry_cors_headers(api: Api, method: str, target: str, status: int) -> None:
    # Given a request the service refuses
    url = {
        "item-unknown": api.item_url(str(uuid.uuid4())),
        "item-malformed": api.item_url("nope"),
        "collection-malformed-body": api.collection_url,
        "collection-bad-limit": f"{api.collection_url}?limit=0",
    }[target]
    body = b"{not json" if target == "collection-malformed-body" else None
    # When a browser sends it
    reply = api.send(method, url, body, headers={"Origin": ORIGIN})
    # Then the refusal still carries the CORS header, so the page can read why
    assert reply.status == status, reply
    assert reply.headers.get("access-control-allow-origin") == "*", reply.headers


def test_api_gateway_own_errors_carry_cors_headers(api: Api) -> None:
    # Given a path the API does not have (API Gateway answers it itself, before any function)
    parts = urlsplit(api.collection_url)
    unknown = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/no-such-resource"))
    # When a browser calls it
    reply = api.send("GET", unknown, headers={"Origin": ORIGIN})
    # Then the gateway's own error carries the CORS header too
    assert 400 <= reply.status < 500, reply
    assert reply.headers.get("access-control-allow-origin") == "*", (reply.status, reply.headers)
