"""The console's local server, offline: it serves its page, refuses other hosts and unmarked writes, proxies
the API with the server-side token, and reads the list's next cursor from the Link header. The engine and the API
are fakes; nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.console import server as console
from devkit.console.server import CSRF_HEADER, ConsoleServer, ConsoleTarget, next_cursor
from devkit.http import Reply

OUTPUTS = {
    "ProductPurchaseApi": "http://api.invalid/dev/product-purchase/",
    "Stage": "dev",
    "Engine": "ministack",
    "StackName": "product-purchase-dev",
    "QueueUrl": "q",
    "DeadLetterQueueUrl": "dlq",
}


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, dict[str, str] | None]] = []

    def __call__(
        self, method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Reply:
        self.calls.append((method, url, body, headers))
        if method == "GET":
            link = '<?limit=20&cursor=abc123>; rel="next"'
            return Reply(200, {"link": link}, json.dumps([{"ProductPurchaseId": "p1"}]).encode())
        return Reply(
            400, {}, json.dumps({"message": "Invalid purchase", "errors": [{"field": "Quantity"}]}).encode()
        )


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ConsoleServer, FakeApi]]:
    api = FakeApi()
    monkeypatch.setattr(console, "call", api)
    monkeypatch.setattr(
        console, "authorization_header", lambda *_a, **_k: {"Authorization": "Bearer server-side"}
    )
    server = ConsoleServer(ConsoleTarget(engine=None, outputs=OUTPUTS), port=0).start()  # type: ignore[arg-type]
    yield server, api
    server.stop()


def _request(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return Reply(reply.status, dict(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


def test_given_the_console_then_it_serves_its_page_and_assets_on_loopback(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, _ = served
    assert server.url.startswith("http://127.0.0.1:")
    page = _request(server.url)
    assert page.status == 200 and b"/static/app.js" in page.body
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert _request(f"{server.url}static/app.js").status == 200
    assert _request(f"{server.url}static/../server.py").status == 404


def test_given_a_list_request_then_it_goes_out_with_the_server_side_token(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    reply = _request(f"{server.url}api/purchases?limit=20&cursor=xyz")
    assert reply.status == 200
    assert json.loads(reply.body) == {"items": [{"ProductPurchaseId": "p1"}], "next": "abc123"}
    ((method, url, _, headers),) = api.calls
    assert (method, url) == ("GET", "http://api.invalid/dev/product-purchase?limit=20&cursor=xyz")
    assert headers == {"Authorization": "Bearer server-side"}


def test_given_a_refused_write_then_the_api_answer_reaches_the_page(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, _ = served
    reply = _request(f"{server.url}api/purchases", "POST", {"Quantity": "x"}, {CSRF_HEADER: "1"})
    assert reply.status == 400 and json.loads(reply.body)["errors"] == [{"field": "Quantity"}]


def test_given_a_write_without_the_console_header_then_nothing_is_sent(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    assert _request(f"{server.url}api/purchases", "POST", {"Quantity": "1"}).status == 403
    assert _request(f"{server.url}api/dead-letters/redrive", "POST").status == 403
    assert api.calls == []


def test_given_another_host_name_then_the_console_refuses_to_answer(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    assert _request(f"{server.url}api/purchases", headers={"Host": "evil.example:80"}).status == 421
    assert api.calls == []


def test_given_link_headers_then_the_next_cursor_is_read_from_them() -> None:
    assert next_cursor('<?limit=5&cursor=eyJh>; rel="next"') == "eyJh"
    assert next_cursor(None) is None
    assert next_cursor('<?limit=5>; rel="next"') is None
