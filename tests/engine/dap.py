"""A minimal Debug Adapter Protocol client (JSON messages with a Content-Length header), enough to attach to
debugpy, set breakpoints, and see a stop: what VS Code does when it attaches, without VS Code."""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
from typing import Any


class DapClient:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._socket.settimeout(None)
        self._stream = self._socket.makefile("rb")
        self._numbers = itertools.count(1)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                length = 0
                while (line := self._stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if not length:
                    return
                self.messages.put(json.loads(self._stream.read(length)))
        except OSError:
            return

    def send(self, command: str, **arguments: Any) -> int:
        number = next(self._numbers)
        data = json.dumps(
            {"seq": number, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self._socket.sendall(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return number

    def wait_for(self, kind: str, name: str, timeout: float, request: int | None = None) -> dict[str, Any]:
        """The first message (already received or arriving within `timeout` s) that is this event or the
        response to `request`."""

        def matches(message: dict[str, Any]) -> bool:
            if kind == "event":
                return message.get("type") == "event" and message.get("event") == name
            return message.get("type") == "response" and message.get("request_seq") == request

        for index, message in enumerate(self._seen):
            if matches(message):
                return self._seen.pop(index)
        while True:
            message = self.messages.get(timeout=timeout)
            if matches(message):
                return message
            self._seen.append(message)

    def request(self, command: str, timeout: float = 10.0, **arguments: Any) -> dict[str, Any]:
        response = self.wait_for("response", command, timeout, self.send(command, **arguments))
        assert response.get("success"), response
        return response

    def close(self) -> None:
        self._socket.close()
