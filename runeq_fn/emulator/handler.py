"""The emulator's connections: TLS, keep-alive, reading a request, and writing its answer as a fault frames it."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import auth
from .faults import STREAMED, Fault, FaultQueue, bomb, chunked, compress, cut_at, endless_csv
from .records import RequestRecord, redact
from .replies import Reply, accepts_gzip, altered, encode_body, error_reply


def server_context(tls: ssl.SSLContext | tuple[str, str] | None) -> ssl.SSLContext | None:
    """The server's TLS context: given, or made from a ``(certfile, keyfile)`` pair; None for plain http."""
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    certfile, keyfile = tls
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


class Host(Protocol):
    """What a connection uses of its emulator: ``server.Emulator`` (which imports this module, so not named here)."""

    tls: ssl.SSLContext | None
    connections: int
    idle_timeout: float | None
    delay: float
    gzip: bool
    log: Callable[[str], None] | None
    _faults: FaultQueue

    def _arrive(self) -> int:
        """A sequence number for a request that just arrived."""

    def _answered(self) -> None:
        """A request's answer is sent (or abandoned)."""

    def _record(self, seq: int, record: RequestRecord) -> None:
        """Add a record to the log at its arrival position."""

    def _secrets(self) -> set[str]:
        """Credential values that must never reach a log."""

    def _cached(self, key: tuple, build: Callable[..., Any], *args: Any) -> Any:
        """``build(*args)``, kept under ``key`` when the emulator caches."""

    def _route(
        self, verb: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str], body: bytes, repeat: bool
    ) -> Reply:
        """The normal answer to a request, before any fault."""

    def _fault_reply(self, fault: Fault, target: str) -> Reply:
        """The answer that replaces the normal one for status, html, empty_error and redirect."""


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its emulator and can close its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Host) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.add(request)
            self.emulator.connections += 1
        super().process_request(request, client_address)

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """Serve one connection, over TLS when the emulator has a context (handshake in this thread)."""
        context = self.emulator.tls
        if context is None:
            super().finish_request(request, client_address)
            return
        with context.wrap_socket(request, server_side=True, do_handshake_on_connect=False) as secure:
            with self._open_lock:  # wrapping detached the plain socket: close_all must reach this one
                self._open.discard(request)
                self._open.add(secure)
            try:
                secure.do_handshake()
                super().finish_request(secure, client_address)
            finally:
                with self._open_lock:
                    self._open.discard(secure)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Close the listening socket and shut every open connection down."""
        self.server_close()
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """Stay quiet about clients that went away; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One connection: any number of keep-alive requests."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between keep-alive requests
    server: Server

    def setup(self) -> None:
        super().setup()
        idle = self.server.emulator.idle_timeout
        if idle is not None:  # a request line that does not come in time closes the connection
            self.connection.settimeout(idle)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        """Silence http.server's own stderr log: the emulator logs through its ``log`` callable."""

    def _handle(self) -> None:
        """Read, maybe fault, answer, record and log one request."""
        emulator = self.server.emulator
        seq = emulator._arrive()
        try:
            self._handle_arrived(emulator, seq)
        finally:
            emulator._answered()

    def _handle_arrived(self, emulator: Host, seq: int) -> None:
        started = time.perf_counter()
        split = urlsplit(self.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(headers.get("content-length", "0") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        logged_params = redact(pairs, emulator._secrets())
        line = f"{self.command} {split.path}" + ("?" + urlencode(logged_params) if logged_params else "")

        if emulator.delay > 0:
            time.sleep(emulator.delay)
        fault = emulator._faults.take(split.path, pairs)
        kind = fault.kind if fault is not None else ""
        if fault is not None and kind == "slow":
            time.sleep(fault.seconds)
        if kind == "drop":
            reply, payload, encoding, sent = Reply(0), b"", None, 0
        else:
            reply = altered(self._answer(emulator, fault, split.path, pairs, headers, body), fault, split.path)
            payload, encoding = self._encode(emulator, reply, fault, headers.get("accept-encoding", ""))
            sent = len(payload) // 2 if kind == "truncate" else cut_at(payload, fault.cut if fault else None)
        header_names = tuple(name.lower() for name in self.headers.keys())
        emulator._record(
            seq,
            RequestRecord(
                self.command,
                split.path,
                logged_params,
                auth.auth_method(headers),
                reply.status,
                0 if kind in ("bomb", "endless") else sent,
                encoding is not None,
                header_names,
            ),
        )  # before sending: a client that has read the answer finds it in the log
        if emulator.log is not None:
            # before sending, as the record: a client that has its answer may stop the server at once
            elapsed = (time.perf_counter() - started) * 1000
            emulator.log(f"{line} {reply.status} {sent}B {elapsed:.1f}ms")
        if kind in ("drop", "truncate") or sent < len(payload):
            self.close_connection = True
        if kind != "drop":
            self._send(reply, payload, encoding, sent, fault)

    def _answer(
        self,
        emulator: Host,
        fault: Fault | None,
        path: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        """The reply a fault dictates, or the normal one."""
        if fault is not None and fault.kind in ("status", "html", "empty_error", "redirect"):
            return emulator._fault_reply(fault, self.path)
        repeat = fault is not None and fault.kind == "repeat_token"
        try:
            return emulator._route(self.command, path, pairs, headers, body, repeat)
        except Exception as exc:  # a bug must still answer, as a real server's 500 would
            return error_reply(500, "InternalServerError", f"{type(exc).__name__}: {exc}")

    def _encode(self, emulator: Host, reply: Reply, fault: Fault | None, accepted: str) -> tuple[bytes, str | None]:
        """The body as sent and its Content-Encoding (None for identity)."""
        kind = fault.kind if fault is not None else ""
        if fault is not None and kind == "compressed":
            return compress(reply.body, fault.encoding), fault.encoding
        if kind in ("bomb", "endless"):
            return b"", "gzip" if kind == "bomb" else None
        gzipped = emulator.gzip and reply.compressible and accepts_gzip(accepted) and kind != "trickle"
        payload, zipped = emulator._cached(
            ("body", reply.body, gzipped, kind),
            encode_body,
            reply.body,
            gzipped or kind == "bad_gzip",
            kind == "bad_gzip",
        )
        return payload, "gzip" if zipped else None

    def _send(self, reply: Reply, payload: bytes, encoding: str | None, sent: int, fault: Fault | None) -> None:
        """Write the status line, headers and the body as the fault frames it (by default: Content-Length).

        ``sent`` body bytes go out; fewer than the payload means the connection then closes.
        """
        kind = fault.kind if fault is not None else ""
        try:
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            if kind in ("chunked", "bomb", "endless"):
                self.send_header("Transfer-Encoding", "chunked")
            elif kind == "close_delimited":
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(sent if kind == "compressed" else len(payload)))
                if kind == "compressed" and sent < len(payload):
                    self.send_header("Connection", "close")  # whole as framed: say the connection ends
            if encoding:
                self.send_header("Content-Encoding", encoding)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if fault is not None and kind in STREAMED:
                self._stream(fault, payload)
            elif kind == "chunked":
                self.wfile.write(chunked(payload, sent))
            else:
                self.wfile.write(payload[:sent])
        except OSError:
            self.close_connection = True

    def _stream(self, fault: Fault, payload: bytes) -> None:
        """Write a body that is made as it goes: a trickle, a bomb, or an endless CSV."""
        if fault.kind == "trickle":
            for at in range(len(payload)):
                self.wfile.write(payload[at : at + 1])
                time.sleep(fault.seconds)
            return
        pieces = bomb(fault.size) if fault.kind == "bomb" else endless_csv()
        for piece in pieces:
            if piece:  # an empty chunk would end the body
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")
