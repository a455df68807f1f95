"""A loopback server that answers with scripted bytes: for faults no well-behaved HTTP server makes.

``RawServer(answers)`` answers the n-th request with ``answers[n]`` (once they run
out, with an empty CSV page, which ends a pull), then closes the connection. ``answer(...)`` builds the
bytes of an ordinary HTTP/1.1 answer to start from. An answer given as a list of byte strings is sent
one piece at a time, ``gap`` seconds apart (a body that trickles in), until the server stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence


def answer(
    status: int = 200,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/csv"),),
    length: bool = True,
) -> bytes:
    """The bytes of an HTTP/1.1 answer that closes its connection; ``length=False`` sends no Content-Length."""
    lines = [f"HTTP/1.1 {status} Whatever", *(f"{name}: {value}" for name, value in headers), "Connection: close"]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    """Serves scripted answers on 127.0.0.1, one per request, each on a connection of its own."""

    def __init__(self, answers: Sequence[bytes | list[bytes]], gap: float = 0.3) -> None:
        self.answers = list(answers)
        self.gap = gap
        self.heads: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2.0)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = connection.recv(65536)
                    if not data:
                        break
                    head += data
                if not head:
                    continue
                self._drain_body(connection, head)
                self.heads.append(head)
                n = len(self.heads) - 1
                reply = self.answers[n] if n < len(self.answers) else answer()
                try:
                    for piece in reply if isinstance(reply, list) else [reply]:
                        if self._stopped.is_set():
                            break
                        connection.sendall(piece)
                        if isinstance(reply, list):
                            time.sleep(self.gap)
                    connection.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    @staticmethod
    def _drain_body(connection: socket.socket, head: bytes) -> None:
        """Read a request's body (a POST's), so that closing the connection does not reset it."""
        fields = head.partition(b"\r\n\r\n")[0].lower().split(b"\r\n")
        length = next((int(f.split(b":", 1)[1]) for f in fields if f.startswith(b"content-length:")), 0)
        received = len(head.partition(b"\r\n\r\n")[2])
        while received < length:
            data = connection.recv(65536)
            if not data:
                return
            received += len(data)
