"""A recording ``@connections`` endpoint: what the runtime sent to whom, over real HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class ConnectionsRecorder:
    """A real HTTP server answering like API Gateway's Management API (``@connections``): the runtime's boto3
    client talks to it over a socket, and it records what each connection was sent.

    ``open`` holds the ids that are connected; any other id answers 410 Gone. A post to an id in ``refusing``
    answers 400 (a push that fails without the connection being gone).
    """

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.refusing: set[str] = set()
        self.received: list[tuple[str, bytes]] = []
        self.deleted: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _id(self) -> str:
                return unquote(self.path.rsplit("/@connections/", 1)[1])

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cid = self._id()
                with outer.lock:
                    if cid in outer.refusing:
                        return self._reply(400, b'{"message": "Bad request"}')
                    if cid not in outer.open:
                        return self._reply(410, b'{"message": "Gone"}')
                    outer.received.append((cid, data))
                self._reply(200)

            def do_GET(self) -> None:
                cid = self._id()
                if cid not in outer.open:
                    return self._reply(410, b'{"message": "Gone"}')
                self._reply(
                    200,
                    json.dumps(
                        {"connectedAt": "2026-11-26T07:00:00Z", "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"}}
                    ).encode(),
                )

            def do_DELETE(self) -> None:
                cid = self._id()
                with outer.lock:
                    if cid not in outer.open:
                        return self._reply(410, b'{"message": "Gone"}')
                    outer.open.discard(cid)
                    outer.deleted.append(cid)
                self._reply(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prod"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages_for(self, cid: str) -> list[dict[str, Any]]:
        return [json.loads(d) for c, d in self.received if c == cid]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
