"""A tiny HTTP server for what the emulator will not do: a test decides every answer.

``stand_in(answer)`` serves on loopback; ``answer(path, headers)`` returns (status, content type,
body) for each GET and sees the headers that arrived (to echo a credential back, say).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import parse_qs, urlsplit

Answer = Callable[[str, Mapping[str, str]], tuple[int, str, bytes]]


def query_of(path: str) -> dict[str, str]:
    """A request path's query parameters, one value each."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(path).query).items()}


@contextmanager
def stand_in(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` on 127.0.0.1 for the block; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, content_type, body = answer(self.path, dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer  # noqa: N815 -- the names http.server calls

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
