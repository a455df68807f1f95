"""A small HTTP proxy on loopback for the tests: CONNECT tunnels and plain-http forwarding.

It records the request line and headers of everything it is asked (``seen``), so that a test
proves a request went through it, and can demand Basic credentials (``auth``) or refuse every
request with a status (``refuse``), as corporate proxies do.
"""

from __future__ import annotations

import base64
import selectors
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it: method, target, headers (names in lower case)."""

    method: str
    target: str
    headers: dict[str, str]


class Proxy:
    """A threaded raw-socket proxy on 127.0.0.1; use as a context manager."""

    def __init__(
        self, auth: tuple[str, str] | None = None, refuse: int | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.auth = auth
        self.tls = tls
        self.refuse = refuse
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="test-proxy", daemon=True)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL, with ``user:password@`` when given."""
        credentials = f"{user}:{password}@" if user is not None else ""
        return f"{'https' if self.tls else 'http'}://{credentials}127.0.0.1:{self.port}"

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._count()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _count(self) -> None:
        with self._lock:
            self.connections += 1

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open.update(sockets)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
                self._track(client)
            head, rest = read_head(client)
            if head is None:
                return
            method, target, headers = parse_head(head)
            with self._lock:
                self.seen.append(Seen(method, target, headers))
            status = self._verdict(headers)
            if status is not None:
                client.sendall(refusal(status))
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host, int(port)))
                self._track(upstream)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                relay(client, upstream, rest)
            else:
                parts = urlsplit(target)
                upstream = socket.create_connection((parts.hostname, parts.port or 80))
                self._track(upstream)
                rest += read_exactly(client, int(headers.get("content-length", 0)) - len(rest))
                upstream.sendall(forwarded_head(method, target, headers) + rest)
                answer, body = read_head(upstream)
                # one answer per connection, and the client is told so, as HTTP/1.1 wants
                client.sendall((answer or b"") + b"\r\nConnection: close\r\n\r\n" + body)
                relay(client, upstream, b"")
        except OSError:
            pass
        finally:
            client.close()

    def _verdict(self, headers: dict[str, str]) -> int | None:
        """The status refusing this request, or None to serve it."""
        if self.refuse is not None:
            return self.refuse
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            if headers.get("proxy-authorization") != expected:
                return 407
        return None


def read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (up to the blank line) and whatever arrived after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """The next ``size`` bytes (a request body's rest), or fewer if the peer closes."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, target and headers (lower-case names) of a request head."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


def forwarded_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    """The head sent upstream: the same request, without proxy headers, closing after one answer."""
    kept = {k: v for k, v in headers.items() if not k.startswith("proxy-") and k != "connection"}
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in kept.items()), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refusal(status: int) -> bytes:
    """A proxy's refusal, with the challenge a 407 carries."""
    challenge = 'Proxy-Authenticate: Basic realm="test"\r\n' if status == 407 else ""
    return (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Refused')}\r\n{challenge}"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


def relay(client: socket.socket, upstream: socket.socket, pending: bytes) -> None:
    """Copy bytes both ways until either side closes."""
    if pending:
        upstream.sendall(pending)
    with selectors.DefaultSelector() as selector, upstream:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            for key, _ in selector.select():
                source = key.fileobj
                data = source.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                while isinstance(source, ssl.SSLSocket) and source.pending():  # decrypted, so select misses it
                    data += source.recv(65536)
                key.data.sendall(data)
