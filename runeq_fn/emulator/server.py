"""The emulator itself: its options, credentials, request log and faults, and the answer to each request."""

from __future__ import annotations

import bisect
import json
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

from . import auth
from .data import take
from .faults import Fault, FaultQueue, error_type, html_page
from .handler import Server, server_context
from .pagination import (
    ODD_ROW_KINDS,
    SCHEMES,
    decode_token,
    encode_token,
    json_result,
    markers,
    odd_rows,
    query_hash,
    render_csv,
    render_json,
    with_iso_times,
)
from .records import RequestRecord
from .replies import AMZ_JSON_TYPE, CSV_TYPE, JSON_TYPE, Reply, error_reply
from .resources import ROUNDINGS, ApiError, compile_query, parse_page

TOKEN_HEADER = "X-Rune-Next-Page-Token"
AUTH_CONFIG_KEYS = {
    "access_token": ("access_token_id", "access_token_secret"),
    "client_keys": ("client_key_id", "client_access_key"),
    "jwt": ("jwt",),
    "cognito_refresh": ("cognito_client_id", "cognito_refresh_token"),
}


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
        self._server: Server | None = None
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

    def _bind(self) -> Server:
        """The listening server, created on first use."""
        if self._server is None:
            self._server = Server((self.host, self.port), self)
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


