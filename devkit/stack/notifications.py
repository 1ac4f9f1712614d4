"""The purchase notifications as a program on this host receives them: connect to the stack's WebSocket API with
a short-lived token, collect or print the change messages (`invoke watch`, the e2e suite, `invoke bench
--notifications`)."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, access_token

OPEN_TIMEOUT = 10.0
# API Gateway drops a connection idle for 10 minutes; a message on the $default route keeps it open.
KEEPALIVE_SECONDS = 240.0
_KEEPALIVE = json.dumps({"action": "ping"})


@dataclass(frozen=True)
class Received:
    message: dict[str, Any]
    at: float  # time.time() when it arrived


def socket_url(engine: Engine, outputs: Mapping[str, Any], token: str | None = None) -> str:
    """The WebSocket URL with a fresh read token in its query string (the authorizer's identity source)."""
    base = outputs.get("WebSocketUrl")
    if not base:
        raise ToolingError("The stack outputs have no WebSocketUrl: deploy the stack again (`invoke up`).")
    token = token if token is not None else access_token(engine, outputs, [READ_SCOPE])
    return f"{base}?{urllib.parse.urlencode({'token': token})}"


def handshake_status(url: str) -> int:
    """101 when the API admits a connection at `url`, else the HTTP status it refused it with."""
    try:
        with connect(url, open_timeout=OPEN_TIMEOUT, proxy=None):
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


class Listener:
    """One WebSocket connection whose messages a background thread collects, each with its arrival time."""

    def __init__(self, url: str) -> None:
        try:
            self._socket: ClientConnection = connect(url, open_timeout=OPEN_TIMEOUT, proxy=None, legacy=True)
        except InvalidStatus as refused:
            raise ToolingError(
                f"The notification API refused the connection ({refused.response.status_code})."
            ) from None
        except (OSError, WebSocketException) as error:
            raise ToolingError(f"Cannot reach the notification API ({error}): is the stack up?") from None
        self._inbox: queue.Queue[Received] = queue.Queue()
        self.received: list[Received] = []
        self._thread = threading.Thread(target=self._receive, name="notifications", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            for frame in self._socket:
                try:
                    message = json.loads(frame)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self._inbox.put(Received(message, time.time()))

    @property
    def open(self) -> bool:
        return self._thread.is_alive()

    def next(self, timeout: float) -> Received | None:
        """The next message within `timeout` seconds, or None."""
        try:
            received = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        self.received.append(received)
        return received

    def wait_for(
        self, done: Callable[[list[Received]], bool], *, timeout: float, what: str = "notifications"
    ) -> list[Received]:
        """Collect messages until `done(all received so far)` holds; raises TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not done(self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Gave up waiting for {what} after {timeout:.0f} s; got {self.received}")
            self.next(min(left, 0.5))
        return self.received

    def ping(self) -> None:
        self._socket.send(_KEEPALIVE)

    def close(self) -> None:
        self._socket.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def of_purchase(received: list[Received], purchase_id: str) -> list[dict[str, Any]]:
    return [item.message for item in received if item.message.get("ProductPurchaseId") == purchase_id]


def watch(engine: Engine, outputs: Mapping[str, Any], *, show: Callable[[str], None] = print) -> None:
    """Print every notification as it arrives, reconnecting with a fresh token when the connection drops; runs
    until interrupted (Ctrl-C)."""
    while True:
        with Listener(socket_url(engine, outputs)) as listener:
            show(f"Connected to {outputs['WebSocketUrl']}; waiting for purchase changes (Ctrl-C to stop).")
            last_ping = time.monotonic()
            while listener.open:
                received = listener.next(timeout=1.0)
                if received is not None:
                    show(format_notification(received))
                if time.monotonic() - last_ping > KEEPALIVE_SECONDS:
                    with contextlib.suppress(ConnectionClosed):
                        listener.ping()
                    last_ping = time.monotonic()
        show("Connection closed; reconnecting ...")


def format_notification(received: Received) -> str:
    message = received.message
    stamp = time.strftime("%H:%M:%S", time.localtime(received.at)) + f".{int(received.at * 1000) % 1000:03d}"
    kind = str(message.get("type", "?"))
    purchase = message.get("purchase") or {}
    summary = ""
    if purchase:
        summary = (
            f"  {purchase.get('ProductName', '')} x{purchase.get('Quantity', '')}"
            f"  {purchase.get('TotalPrice', '')}  {purchase.get('CustomerName', '')}"
        )
    return f"{stamp}  {kind:<17} {message.get('ProductPurchaseId', '')}{summary}"
