"""One keep-alive HTTP connection per load thread: the benchmark measures the service, not TCP handshakes."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

# A reused connection the server has closed fails on first use; only then is one retry on a fresh one safe.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
NO_RESPONSE = 0  # the status recorded when no HTTP answer came back at all


@dataclass(frozen=True)
class Exchange:
    status: int
    body: bytes
    seconds: float


class KeepAliveClient:
    """Requests to one origin over one persistent connection; not thread-safe (one per thread)."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        parts = urlsplit(base_url)
        self._headers = dict(headers or {})
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            connection_class = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = connection_class(self._host, self._port, timeout=self._timeout)
        return self._connection

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Exchange:
        """Send one request and read the whole answer; a transport failure gives status NO_RESPONSE."""
        headers = {"Content-Type": "application/json", **self._headers, **(headers or {})}
        started = time.perf_counter()
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self._connect()
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return Exchange(response.status, data, time.perf_counter() - started)
            except _STALE_CONNECTION:
                self.close()
                if attempt == 2 or not reused:
                    break
                started = time.perf_counter()
            except (OSError, http.client.HTTPException):
                self.close()
                break
        return Exchange(NO_RESPONSE, b"", time.perf_counter() - started)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
