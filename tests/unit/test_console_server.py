"""The console's local server, offline: it serves its page, refuses other hosts, calls without the run's key and
unmarked writes, proxies the API with the server-side token, polls only queue depths and reads dead letters only
on an explicit request, and reads the list's next cursor from the Link header. The engine and the API are fakes;
nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.console import server as console
from devkit.console.server import CSRF_HEADER, KEY_HEADER, ConsoleServer, ConsoleTarget, next_cursor
from devkit.core.http import Reply
from devkit.stack import dlq, queues

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


class Queues:
    """What the server asked of SQS: depths (attributes only) and receives of dead letters."""

    def __init__(self) -> None:
        self.counted: list[str] = []
        self.peeked: list[str] = []

    def counts(self, _sqs: Any, url: str) -> dict[str, int]:
        self.counted.append(url)
        return {"visible": 2, "inFlight": 0}

    def peek(self, _engine: Any, url: str, *, limit: int) -> list[Any]:
        self.peeked.append(url)
        return [dlq.DeadLetter("m1", '{"action":"create"}', 4, 1_700_000_000_000)]


class _Engine:
    def client(self, _service: str) -> Any:
        return None


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Queues:
    fake = Queues()
    monkeypatch.setattr(queues, "counts", fake.counts)
    monkeypatch.setattr(dlq, "peek", fake.peek)
    return fake


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, sqs: Queues) -> Iterator[tuple[ConsoleServer, FakeApi]]:
    api = FakeApi()
    monkeypatch.setattr(console, "call", api)
    monkeypatch.setattr(
        console, "authorization_header", lambda *_a, **_k: {"Authorization": "Bearer server-side"}
    )
    server = ConsoleServer(ConsoleTarget(engine=_Engine(), outputs=OUTPUTS), port=0).start()  # type: ignore[arg-type]
    _keys[server.base_url] = server.key
    yield server, api
    server.stop()


# The key of each running server, by base URL: every request of these tests presents it unless told otherwise.
_keys: dict[str, str] = {}


def _request(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    key: bool = True,
) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    sent = dict(headers or {})
    base = next((b for b in _keys if url.startswith(b)), None)
    if key and base is not None and KEY_HEADER not in sent:
        sent[KEY_HEADER] = _keys[base]
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return Reply(reply.status, dict(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


def test_given_the_console_then_it_serves_its_page_and_assets_on_loopback(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, _ = served
    assert server.base_url.startswith("http://127.0.0.1:")
    # What the user opens carries the run's key
    assert server.url == f"{server.base_url}?key={server.key}" and len(server.key) >= 40
    page = _request(server.base_url)
    assert page.status == 200 and b"/static/app.js" in page.body
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert _request(f"{server.base_url}static/app.js").status == 200
    assert _request(f"{server.base_url}static/../server.py").status == 404


def test_given_a_list_request_then_it_goes_out_with_the_server_side_token(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    reply = _request(f"{server.base_url}api/purchases?limit=20&cursor=xyz")
    assert reply.status == 200
    assert json.loads(reply.body) == {"items": [{"ProductPurchaseId": "p1"}], "next": "abc123"}
    ((method, url, _, headers),) = api.calls
    assert (method, url) == ("GET", "http://api.invalid/dev/product-purchase?limit=20&cursor=xyz")
    assert headers == {"Authorization": "Bearer server-side"}


def test_given_a_refused_write_then_the_api_answer_reaches_the_page(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, _ = served
    reply = _request(f"{server.base_url}api/purchases", "POST", {"Quantity": "x"}, {CSRF_HEADER: "1"})
    assert reply.status == 400 and json.loads(reply.body)["errors"] == [{"field": "Quantity"}]


def test_given_a_write_without_the_console_header_then_nothing_is_sent(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    assert _request(f"{server.base_url}api/purchases", "POST", {"Quantity": "1"}).status == 403
    assert _request(f"{server.base_url}api/dead-letters/redrive", "POST").status == 403
    assert api.calls == []


def test_given_another_host_name_then_the_console_refuses_to_answer(
    served: tuple[ConsoleServer, FakeApi],
) -> None:
    server, api = served
    assert _request(f"{server.base_url}api/purchases", headers={"Host": "evil.example:80"}).status == 421
    assert api.calls == []


def test_given_link_headers_then_the_next_cursor_is_read_from_them() -> None:
    assert next_cursor('<?limit=5&cursor=eyJh>; rel="next"') == "eyJh"
    assert next_cursor(None) is None
    assert next_cursor('<?limit=5>; rel="next"') is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "api/purchases"),
        ("GET", "api/info"),
        ("GET", "api/socket"),
        ("GET", "api/queues"),
        ("POST", "api/purchases"),
        ("DELETE", "api/purchases/p1"),
        ("POST", "api/dead-letters/inspect"),
        ("POST", "api/dead-letters/redrive"),
    ],
)
@pytest.mark.parametrize("presented", [None, "", "wrong", "query-string-only"])
def test_given_an_api_call_without_the_runs_key_then_it_is_refused_and_nothing_is_proxied(
    served: tuple[ConsoleServer, FakeApi], sqs: Queues, method: str, path: str, presented: str | None
) -> None:
    server, api = served
    # Given any local process that found the port, but not the key (or put it only in the query string)
    headers = {CSRF_HEADER: "1"}
    url = f"{server.base_url}{path}"
    if presented == "query-string-only":
        url += f"?key={server.key}"
    elif presented is not None:
        headers[KEY_HEADER] = presented
    # When it calls the API, Then it is refused with 401, and nothing reached the API or SQS
    reply = _request(url, method, {"Quantity": "1"} if method == "POST" else None, headers, key=False)
    assert reply.status == 401 and "X-Console-Key" in json.loads(reply.body)["message"]
    assert api.calls == [] and sqs.counted == [] and sqs.peeked == []


def test_given_the_page_polling_then_only_queue_depths_are_read_never_messages(
    served: tuple[ConsoleServer, FakeApi], sqs: Queues
) -> None:
    server, _ = served
    reply = _request(f"{server.base_url}api/queues")
    assert reply.status == 200 and json.loads(reply.body)["deadLetters"] == {"visible": 2, "inFlight": 0}
    assert sqs.counted == ["q", "dlq"] and sqs.peeked == []
    # And there is no reading GET: a GET never receives a dead letter
    assert _request(f"{server.base_url}api/dead-letters").status == 404
    assert sqs.peeked == []


def test_given_an_explicit_inspect_then_the_dead_letters_are_read_once(
    served: tuple[ConsoleServer, FakeApi], sqs: Queues
) -> None:
    server, _ = served
    # Without the console's header (a cross-site form), nothing is read
    assert _request(f"{server.base_url}api/dead-letters/inspect", "POST").status == 403
    assert sqs.peeked == []
    reply = _request(f"{server.base_url}api/dead-letters/inspect", "POST", headers={CSRF_HEADER: "1"})
    assert reply.status == 200 and sqs.peeked == ["dlq"]
    assert json.loads(reply.body) == [
        {"id": "m1", "body": '{"action":"create"}', "receiveCount": 4, "sentAt": 1_700_000_000_000}
    ]


def test_given_the_key_then_the_static_page_needs_none(served: tuple[ConsoleServer, FakeApi]) -> None:
    server, _ = served
    # The page itself holds nothing secret: it loads, then reads the key from its own URL
    page = _request(server.base_url, key=False)
    assert page.status == 200
    script = _request(f"{server.base_url}static/app.js", key=False).body
    assert b"X-Console-Key" in script and b'searchParams.get("key")' in script
