"""The emulator's HTTP/1.1 server: auth, routing, pagination, gzip, faults and the request log."""

from __future__ import annotations

import bisect
import gzip as gzip_module
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import auth
from .data import take
from .faults import (
    STREAMED,
    Fault,
    FaultQueue,
    bomb,
    chunked,
    compress,
    corrupt_gzip,
    cut_at,
    error_type,
    html_page,
    reverse_columns,
    with_note,
)
from .pagination import (
    ODD_ROW_KINDS,
    SCHEMES,
    decode_token,
    encode_token,
    error_body,
    json_result,
    markers,
    odd_rows,
    query_hash,
    render_csv,
    render_json,
    with_iso_times,
)
from .resources import ROUNDINGS, ApiError, compile_query, parse_page

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
AMZ_JSON_TYPE = "application/x-amz-json-1.1"
TOKEN_HEADER = "X-Rune-Next-Page-Token"
AUTH_CONFIG_KEYS = {
    "access_token": ("access_token_id", "access_token_secret"),
    "client_keys": ("client_key_id", "client_access_key"),
    "jwt": ("jwt",),
    "cognito_refresh": ("cognito_client_id", "cognito_refresh_token"),
}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it and answered it; never any header value."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    auth: str | None
    status: int
    body_bytes: int
    gzip: bool
    header_names: tuple[str, ...]


@dataclass
class Reply:
    """An answer before encoding: status, body, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    compressible: bool = True


def error_reply(status: int, kind: str, message: str) -> Reply:
    """A JSON error envelope reply.

    >>> error_reply(404, "NotFoundError", "no").status
    404
    """
    return Reply(status, error_body(kind, message), JSON_TYPE)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value admits gzip.

    >>> accepts_gzip("gzip, deflate"), accepts_gzip("identity"), accepts_gzip("gzip;q=0")
    (True, False, False)
    """
    for item in header.split(","):
        name, _, rest = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return rest.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def encode_body(body: bytes, compress: bool, corrupt: bool) -> tuple[bytes, bool]:
    """The body as sent and whether it is gzipped; empty bodies stay empty unless corrupted.

    >>> encode_body(b"", True, False), encode_body(b"abc", False, False)
    ((b'', False), (b'abc', False))
    >>> gzip_module.decompress(encode_body(b"abc", True, False)[0])
    b'abc'
    """
    if not compress or not (body or corrupt):
        return body, False
    compressed = gzip_module.compress(body, compresslevel=6, mtime=0)
    return (corrupt_gzip(compressed) if corrupt else compressed), True


def redact(pairs: list[tuple[str, str]], secrets: set[str]) -> tuple[tuple[str, str], ...]:
    """Query pairs with any credential value replaced, so that logs never hold one.

    >>> redact([("a", "1"), ("b", "s3cret")], {"s3cret"})
    (('a', '1'), ('b', '***'))
    """
    return tuple((k, "***" if v in secrets else v) for k, v in pairs)


def server_context(tls: ssl.SSLContext | tuple[str, str] | None) -> ssl.SSLContext | None:
    """The server's TLS context: given, or made from a ``(certfile, keyfile)`` pair; None for plain http."""
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    certfile, keyfile = tls
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


class Emulator:
    """An in-process Stream API V1 server on loopback, for tests, demos and benchmarks.

    Options: ``pagination`` is ``"page"``, ``"token"`` or ``"mixed"`` (span always uses tokens);
    ``page_size`` entries per page (CSV rows, JSON list entries); ``delay`` seconds slept before
    every answer; ``gzip`` compresses bodies for clients that accept it; ``inclusive_end`` also serves the rows exactly at
    ``end_time`` (whether the real API does is not public; sharded pulls must be exact either way); ``round_bounds``
    (``"ms-floor"``, ``"s-ceil"``, ... see ``resources.ROUNDINGS``) filters on ``start_time`` and ``end_time`` rounded
    to the millisecond or second, as a server that keeps them in those units would (a query with
    ``timestamp=iso`` gets its time column as ISO 8601 UTC text); ``blank_rate`` leaves that
    share of numeric data cells empty (CSV) or null (JSON), chosen by hash; ``jwt_expired`` refuses
    the static JWT so that clients must refresh through Cognito; ``cache`` keeps every page (and its
    gzip body) once built, so that a page asked for again costs no generation (for benchmarks
    and large tests: memory grows with the pages served); ``log`` receives one access-log
    line per request (credentials never appear in it, nor in ``requests``); ``tls`` serves
    https instead of http, with a ``(certfile, keyfile)`` pair of PEM files or a server
    ``ssl.SSLContext``. ``connections`` counts the connections accepted (a client that gave up
    during the TLS handshake made one, and no request). ``odd_rows`` maps kinds of sloppy CSV row
    (``quoted``, ``quoted_text``, ``text``, ``short``, ``long``: see ``pagination.odd_row``) to the
    share of rows written so, chosen by hash. ``idle_timeout`` closes a keep-alive connection that
    has waited that many seconds for its next request, as servers and load balancers do.

    The socket is bound on first use of ``url`` or ``start()``; with ``port=0`` a restarted
    emulator may get another port.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        pagination: str = "page",
        page_size: int = 1000,
        delay: float = 0.0,
        gzip: bool = True,
        blank_rate: float = 0.0,
        jwt_expired: bool = False,
        cache: bool = False,
        log: Callable[[str], None] | None = None,
        tls: ssl.SSLContext | tuple[str, str] | None = None,
        odd_rows: Mapping[str, float] | None = None,
        idle_timeout: float | None = None,
        inclusive_end: bool = False,
        round_bounds: str | None = None,
    ) -> None:
        if pagination not in SCHEMES:
            raise ValueError(f"pagination must be one of {', '.join(SCHEMES)}, not {pagination!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if not 0.0 <= blank_rate <= 1.0:
            raise ValueError("blank_rate must be within [0, 1]")
        if round_bounds is not None and round_bounds not in ROUNDINGS:
            raise ValueError(f"round_bounds must be one of {', '.join(ROUNDINGS)} or None, not {round_bounds!r}")
        odd = dict(odd_rows or {})
        if not set(odd) <= set(ODD_ROW_KINDS) or not all(0.0 <= rate <= 1.0 for rate in odd.values()):
            raise ValueError(f"odd_rows maps kinds ({', '.join(ODD_ROW_KINDS)}) to shares within [0, 1]")
        self.odd_rows = odd
        self.port = port
        self.host = host
        self.pagination = pagination
        self.page_size = page_size
        self.delay = delay
        self.gzip = gzip
        self.blank_rate = blank_rate
        self.jwt_expired = jwt_expired
        self.inclusive_end = inclusive_end
        self.round_bounds = round_bounds
        self.peak_in_flight = 0
        """The most requests being answered at once (since the last ``clear``)."""
        self._in_flight = 0
        self._cache: dict[tuple, Any] | None = {} if cache else None
        self.log = log
        self.tls = server_context(tls)
        self.connections = 0
        self.idle_timeout = idle_timeout
        self._faults = FaultQueue()
        self._lock = threading.Lock()
        self._seqs: list[int] = []
        self._records: list[RequestRecord] = []
        self._arrivals = 0
        self._issued: set[str] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._foreground = False

    # -- public surface ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port`` (``https`` with ``tls``; binds the socket if not yet bound)."""
        port = self._bind().server_address[1]
        return f"{'https' if self.tls else 'http'}://{self.host}:{port}"

    @property
    def credentials(self) -> dict[str, str]:
        """The fixed fake credentials this emulator accepts."""
        return dict(auth.CREDENTIALS)

    def config_values(self, auth: str = "access_token") -> dict[str, str]:
        """Keyword values for ``Config(**values)`` using one auth method against this emulator."""
        if auth not in AUTH_CONFIG_KEYS:
            raise ValueError(f"auth must be one of {', '.join(AUTH_CONFIG_KEYS)}, not {auth!r}")
        values = {key: self.credentials[key] for key in AUTH_CONFIG_KEYS[auth]}
        return {**values, "stream_url": self.url, "cognito_url": self.url + "/cognito"}

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, in arrival order."""
        with self._lock:
            return list(self._records)

    @property
    def arrivals(self) -> int:
        """Requests that have arrived so far, answered or not (one is logged in ``requests`` once answered,
        even after its client hung up)."""
        with self._lock:
            return self._arrivals

    def clear(self) -> None:
        """Empty the request log and drop pending faults."""
        with self._lock:
            self._seqs.clear()
            self._records.clear()
            self.connections = 0
            self.peak_in_flight = 0
        self._faults.clear()

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next matching requests."""
        self._faults.push(fault)

    def start(self) -> Emulator:
        """Serve in a background daemon thread."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="runeq-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        server, thread = self._server, self._thread
        if server is None:
            return
        if thread is not None or self._foreground:
            server.shutdown()
        if thread is not None:
            thread.join()
        self._thread = None
        self._close()

    def serve_forever(self) -> None:
        """Serve in the foreground until KeyboardInterrupt (or ``stop()`` from another thread)."""
        server = self._bind()
        self._foreground = True
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._foreground = False
            self._close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------

    def _bind(self) -> _Server:
        """The listening server, created on first use."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        return self._server

    def _close(self) -> None:
        """Close the server, if still open; a later start() binds anew."""
        server, self._server = self._server, None
        if server is not None:
            server.close_all()

    def _arrive(self) -> int:
        """A sequence number for a request that just arrived."""
        with self._lock:
            self._arrivals += 1
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return self._arrivals

    def _answered(self) -> None:
        """A request's answer is sent (or abandoned)."""
        with self._lock:
            self._in_flight -= 1

    def _record(self, seq: int, record: RequestRecord) -> None:
        """Add a record to the log at its arrival position."""
        with self._lock:
            index = bisect.bisect(self._seqs, seq)
            self._seqs.insert(index, seq)
            self._records.insert(index, record)

    def _issue_jwt(self) -> str:
        """A fresh valid JWT, as the Cognito endpoint hands out."""
        with self._lock:
            token = auth.make_jwt("emulator-user", len(self._issued) + 1)
            self._issued.add(token)
            return token

    def _valid_jwts(self) -> set[str]:
        """Every JWT accepted now."""
        with self._lock:
            valid = set(self._issued)
        if not self.jwt_expired:
            valid.add(auth.CREDENTIALS["jwt"])
        return valid

    def _secrets(self) -> set[str]:
        """Credential values that must never reach a log."""
        return set(auth.CREDENTIALS.values()) | self._valid_jwts()

    def _cached(self, key: tuple, build: Callable[..., Any], *args: Any) -> Any:
        """``build(*args)``, kept under ``key`` when the emulator caches."""
        if self._cache is None:
            return build(*args)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = build(*args)
        with self._lock:
            self._cache[key] = value
        return value

    def _page_reply(self, path: str, pairs: list[tuple[str, str]], method: str | None, repeat: bool) -> Reply:
        """Answer ``GET /v1/<resource>.<fmt>``: one page of the query."""
        resource, _, fmt = path[len("/v1/") :].rpartition(".")
        params = dict(pairs)
        client_patient = auth.CLIENT_KEY_PATIENT if method == "client_keys" else None
        listing = compile_query(
            resource, fmt, params, client_patient, self.blank_rate, self.inclusive_end, self.round_bounds
        )
        qhash = query_hash(path, pairs)
        incoming = params.get("next_page_token", "")
        if incoming:
            try:
                offset = decode_token(incoming, qhash)
            except ValueError as exc:
                raise ApiError(400, "BadRequestError", str(exc)) from None
        else:
            offset = parse_page(params) * self.page_size
        size, page = self.page_size, offset // self.page_size
        rows = take(listing.chunks(), offset, size + 1)
        more, rows = len(rows) > size, rows[:size]
        rows = with_iso_times(listing, rows) if params.get("timestamp") == "iso" else rows
        span = resource == "span"
        with_token, with_next = markers(self.pagination, page, more, span)
        token = encode_token(offset + size, qhash) if with_token else None
        next_page = page + 1 if with_next else None
        if repeat:
            paged_by_number = fmt == "json" and markers(self.pagination, page, True, span) == (False, True)
            token = None if paged_by_number else incoming or encode_token(offset, qhash)
            next_page = page if paged_by_number else None
        headers = [(TOKEN_HEADER, token)] if token else []
        if fmt == "csv":
            rows = odd_rows(rows, offset, self.odd_rows, qhash) if self.odd_rows else rows
            return Reply(200, render_csv(listing.columns, rows), CSV_TYPE, headers)
        return Reply(200, render_json(json_result(listing, rows), next_page), JSON_TYPE, headers)

    def _cognito_reply(self, target: str, body: bytes) -> Reply:
        """Answer a Cognito InitiateAuth call with a fresh JWT, or the refusal."""
        problem = auth.cognito_error(target, body)
        if problem is not None:
            kind, message = problem
            return Reply(400, json.dumps({"__type": kind, "message": message}).encode(), AMZ_JSON_TYPE)
        result = {"AccessToken": self._issue_jwt(), "ExpiresIn": 3600, "TokenType": "Bearer"}
        return Reply(200, json.dumps({"AuthenticationResult": result}).encode(), AMZ_JSON_TYPE)

    def _route(
        self,
        verb: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        repeat: bool,
    ) -> Reply:
        """The normal answer to a request, before any fault."""
        if path in ("/cognito", "/cognito/"):
            if verb != "POST":
                return error_reply(405, "MethodNotAllowed", "the Cognito endpoint takes POST")
            return self._cognito_reply(headers.get("x-amz-target", ""), body)
        if not path.startswith("/v1/"):
            return error_reply(404, "NotFoundError", f"no such path: {path}")
        if verb != "GET":
            return error_reply(405, "MethodNotAllowed", "the Stream API takes GET")
        method, ok = auth.authenticate(headers, self._valid_jwts())
        if not ok:
            message = "invalid credentials" if method else "missing credentials"
            if method == "jwt" and headers.get(auth.JWT_HEADER) == auth.CREDENTIALS["jwt"]:
                message = "expired JWT"
            return error_reply(401, "AuthenticationError", message)
        try:
            return self._cached(
                ("page", path, tuple(pairs), method, repeat), self._page_reply, path, pairs, method, repeat
            )
        except ApiError as err:
            return error_reply(err.status, err.kind, err.message)

    def _fault_reply(self, fault: Fault, target: str) -> Reply:
        """The answer that replaces the normal one for status, html, empty_error and redirect."""
        if fault.kind == "status":
            headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
            reply = error_reply(fault.status, error_type(fault.status), f"emulated fault {fault.status}")
            reply.headers = headers
            return reply
        if fault.kind == "html":
            content_type = "text/html; charset=utf-8" if fault.content_type is None else fault.content_type
            return Reply(fault.status, html_page(fault.status), content_type or None, compressible=False)
        if fault.kind == "empty_error":
            return Reply(fault.status, compressible=False)
        status = fault.status if 300 <= fault.status < 400 else 302
        return Reply(
            status, headers=[("Location", str(fault.location).rstrip("/") + target)], compressible=False
        )


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its emulator and can close its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

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


class _Handler(BaseHTTPRequestHandler):
    """One connection: any number of keep-alive requests."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between keep-alive requests
    server: _Server

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

    def _handle_arrived(self, emulator: Emulator, seq: int) -> None:
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
        emulator: Emulator,
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

    def _encode(self, emulator: Emulator, reply: Reply, fault: Fault | None, accepted: str) -> tuple[bytes, str | None]:
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


def endless_csv() -> Iterator[bytes]:
    """A CSV body that never ends: a header, then the same rows forever.

    >>> from itertools import islice
    >>> [len(piece) for piece in islice(endless_csv(), 3)]
    [11, 23000, 23000]
    """
    yield b"time,x,y,z\n"
    rows = b"1609491600,0.1,0.2,0.3\n" * 1000
    while True:
        yield rows


def altered(reply: Reply, fault: Fault | None, path: str) -> Reply:
    """A page reply as ``header_change`` and ``non_utf8`` change it; any other reply as it is."""
    if fault is None or fault.kind not in ("header_change", "non_utf8") or reply.status != 200:
        return reply
    fmt = path.rpartition(".")[2]
    if fault.kind == "header_change":
        return replace(reply, body=reverse_columns(reply.body)) if fmt == "csv" and reply.body else reply
    body = with_note(reply.body, fmt, fault.charset or "latin-1")
    content_type = reply.content_type
    if fault.charset:
        content_type = f"{(content_type or JSON_TYPE).split(';')[0]}; charset={fault.charset}"
    return replace(reply, body=body, content_type=content_type)
