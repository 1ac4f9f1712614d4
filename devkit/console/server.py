"""The console's small local server: static files from `static/` plus a JSON API that proxies exactly what the
page needs (the purchase API, queue and DLQ depth, DLQ inspection and redrive, a WebSocket URL).

The browser never sees a client secret: this process obtains short-lived tokens (devkit.stack.auth) and adds them to
the calls it proxies; the page only gets a read token inside the WebSocket URL it connects to. It listens on
127.0.0.1 only and answers only requests addressed to that host (no DNS rebinding). Any local process can reach
a loopback port, so every `/api/*` call must carry the per-run key printed in the console's URL (the page reads it
from there and sends it as a header): without it nothing is proxied. Nothing changes unless the request carries
the console's own header too (a cross-site form cannot set one).

Reading dead letters is not free: SQS has no read that leaves a message untouched (a receive counts towards its
ApproximateReceiveCount and hides it for the visibility timeout). So the depth (`GET /api/queues`, queue
attributes only) is what the page polls, and messages are inspected only when the user asks, with an explicit
`POST /api/dead-letters/inspect`.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from devkit.core.http import Reply, call
from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack import dlq, queues
from devkit.stack.auth import READ_WRITE_SCOPES, authorization_header
from devkit.stack.notifications import socket_url

STATIC: Final = Path(__file__).with_name("static")
# State-changing calls must carry this header: browsers send it cross-origin only after a CORS preflight, which
# this server never grants.
CSRF_HEADER: Final = "X-Purchase-Console"
# Every /api/* call carries the run's key in this header (the page reads it from its URL's `key`).
KEY_HEADER: Final = "X-Console-Key"
_ITEM: Final = re.compile(r"^/api/purchases/([0-9A-Za-z-]{1,64})$")
_LINK_NEXT: Final = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_MAX_BODY: Final = 256 * 1024


@dataclass(frozen=True)
class ConsoleTarget:
    engine: Engine
    outputs: Mapping[str, Any]

    @property
    def collection(self) -> str:
        return str(self.outputs["ProductPurchaseApi"]).rstrip("/")

    def api(self, method: str, url: str, body: Any = None) -> Reply:
        return call(
            method, url, body, headers=authorization_header(self.engine, self.outputs, READ_WRITE_SCOPES)
        )

    def depth(self, url: str) -> dict[str, int]:
        return queues.counts(self.engine.client("sqs"), url)


def next_cursor(link_header: str | None) -> str | None:
    """The `cursor` of the list response's `Link: <...>; rel="next"`, or None on the last page."""
    match = _LINK_NEXT.search(link_header or "")
    if not match:
        return None
    query = urllib.parse.urlsplit(match.group(1)).query
    cursors = urllib.parse.parse_qs(query).get("cursor")
    return cursors[0] if cursors else None


class ConsoleHandler(BaseHTTPRequestHandler):
    server_version = "PurchaseConsole"
    target: ConsoleTarget  # set on the subclass the server is built with
    allowed_hosts: frozenset[str]
    access_key: str
    log_request_line: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:
        if self.log_request_line is not None:
            self.log_request_line(format % args)

    def _send(
        self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        # Scripts and styles from this server only; the page talks to this server and to the WebSocket API.
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
        )
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _relay(self, reply: Reply) -> None:
        self._send(reply.status, reply.body or b"{}", "application/json")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _host_allowed(self) -> bool:
        return (self.headers.get("Host") or "") in self.allowed_hosts

    def _key_presented(self) -> bool:
        presented = (self.headers.get(KEY_HEADER) or "").encode()
        return hmac.compare_digest(presented, self.access_key.encode())

    def _dispatch(self, method: str) -> None:
        if not self._host_allowed():
            self._json(HTTPStatus.MISDIRECTED_REQUEST, {"message": "Unknown host"})
            return
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/api/") and not self._key_presented():
            self._send(
                HTTPStatus.UNAUTHORIZED,
                json.dumps(
                    {"message": f"Missing or wrong {KEY_HEADER}: open the URL `invoke console` printed"}
                ).encode(),
                "application/json",
                {"WWW-Authenticate": "ConsoleKey"},
            )
            return
        if method != "GET" and self.headers.get(CSRF_HEADER) != "1":
            self._json(HTTPStatus.FORBIDDEN, {"message": f"Missing {CSRF_HEADER} header"})
            return
        try:
            if path.startswith("/api/"):
                self._api(method, path)
            elif method == "GET":
                self._static(path)
            else:
                self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"message": "Method not allowed"})
        except ToolingError as error:
            self._json(HTTPStatus.BAD_GATEWAY, {"message": str(error)})
        except ValueError as error:
            self._json(HTTPStatus.BAD_REQUEST, {"message": str(error)})
        except Exception as error:  # the console keeps serving; the page shows what failed
            self._json(HTTPStatus.BAD_GATEWAY, {"message": f"{type(error).__name__}: {error}"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ static files
    def _static(self, path: str) -> None:
        name = "index.html" if path in {"", "/"} else path.removeprefix("/static/")
        file = (STATIC / name).resolve()
        if STATIC.resolve() not in file.parents or not file.is_file():
            self._json(HTTPStatus.NOT_FOUND, {"message": "Not found"})
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        self._send(HTTPStatus.OK, file.read_bytes(), content_type)

    # ------------------------------------------------------------------ the page's API
    def _api(self, method: str, path: str) -> None:
        target = self.target
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if (method, path) == ("GET", "/api/info"):
            outputs = target.outputs
            self._json(
                HTTPStatus.OK,
                {
                    "stage": outputs.get("Stage"),
                    "engine": outputs.get("Engine"),
                    "stack": outputs.get("StackName"),
                    "api": outputs.get("ProductPurchaseApi"),
                },
            )
        elif (method, path) == ("GET", "/api/socket"):
            self._json(HTTPStatus.OK, {"url": socket_url(target.engine, target.outputs)})
        elif (method, path) == ("GET", "/api/purchases"):
            parameters = {"limit": (query.get("limit") or ["20"])[0]}
            if query.get("cursor"):
                parameters["cursor"] = query["cursor"][0]
            reply = target.api("GET", f"{target.collection}?{urllib.parse.urlencode(parameters)}")
            if reply.status != HTTPStatus.OK:
                self._relay(reply)
                return
            self._json(HTTPStatus.OK, {"items": reply.json(), "next": next_cursor(reply.headers.get("link"))})
        elif (method, path) == ("POST", "/api/purchases"):
            self._relay(target.api("POST", target.collection, self._body()))
        elif (match := _ITEM.match(path)) and method in {"GET", "PUT", "DELETE"}:
            url = f"{target.collection}/{match.group(1)}"
            self._relay(target.api(method, url, self._body() if method == "PUT" else None))
        elif (method, path) == ("GET", "/api/queues"):
            self._json(
                HTTPStatus.OK,
                {
                    "queue": target.depth(str(target.outputs["QueueUrl"])),
                    "deadLetters": target.depth(str(target.outputs["DeadLetterQueueUrl"])),
                },
            )
        elif (method, path) == ("POST", "/api/dead-letters/inspect"):
            messages = dlq.peek(target.engine, str(target.outputs["DeadLetterQueueUrl"]), limit=50)
            self._json(
                HTTPStatus.OK,
                [
                    {
                        "id": m.message_id,
                        "body": m.body[:2000],
                        "receiveCount": m.receive_count,
                        "sentAt": m.sent_at_ms,
                    }
                    for m in messages
                ],
            )
        elif (method, path) == ("POST", "/api/dead-letters/redrive"):
            moved = dlq.redrive(
                target.engine,
                str(target.outputs["DeadLetterQueueUrl"]),
                str(target.outputs["QueueUrl"]),
                progress=lambda _: None,
            )
            self._json(HTTPStatus.OK, {"moved": moved})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"message": "Not found"})


class ConsoleServer:
    """The console on 127.0.0.1:`port` (0 = any free port) for `target`; `serve_forever` or `start` in a thread."""

    def __init__(
        self, target: ConsoleTarget, port: int = 0, log: Callable[[str], None] | None = None
    ) -> None:
        # A new key each run: only who sees the printed URL (or the browser it opened) can use this server.
        self.key = secrets.token_urlsafe(32)
        handler: type[ConsoleHandler] = type(
            "BoundConsoleHandler",
            (ConsoleHandler,),
            {"target": target, "log_request_line": log, "access_key": self.key},
        )
        try:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as error:
            raise ToolingError(
                f"Cannot listen on 127.0.0.1:{port} ({error.strerror}): pick another port with --port."
            ) from None
        self._httpd.daemon_threads = True
        bound = self._httpd.server_address[1]
        handler.allowed_hosts = frozenset({f"127.0.0.1:{bound}", f"localhost:{bound}"})
        self.port: int = int(bound)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The page's address with the run's key: what the user opens."""
        return f"{self.base_url}?{urllib.parse.urlencode({'key': self.key})}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self.serve_forever, name="console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
