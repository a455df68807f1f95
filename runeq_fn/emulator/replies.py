"""An answer before it is sent: its status, body and type, its gzip encoding, and what a fault changes in it."""

from __future__ import annotations

import gzip as gzip_module
from dataclasses import dataclass, field, replace

from .faults import Fault, corrupt_gzip, reverse_columns, with_note
from .pagination import error_body

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
AMZ_JSON_TYPE = "application/x-amz-json-1.1"


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
