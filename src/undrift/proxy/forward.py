"""Where a request goes and which headers cross the proxy.

Clients swap their base URL for the proxy's (`http://HOST:PORT/v1`); `--upstream` is the base URL they used before.
So `/v1/chat/completions` goes to `{upstream}/chat/completions`, and a path outside `/v1` (a server's `/health`)
goes to the upstream's host unchanged.  Everything else crosses as it came (body, query, the caller's
Authorization), less the hop-by-hop headers (RFC 9110 7.6.1, and those `Connection` names), `Host` (the upstream's
own is sent), the proxy's own credential and the caller's tag.  Responses are relayed decoded (the proxy reads them
to record them), so their Content-Encoding and Content-Length are dropped and recomputed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

API_PREFIX = "/v1"
TAG_HEADER = "x-undrift-tag"
TOKEN_HEADER = "x-undrift-token"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", TAG_HEADER, TOKEN_HEADER}
NOT_RETURNED = HOP_BY_HOP | {"content-length", "content-encoding"}


class Target:
    """The upstream's base URL, split once, and the mapping of the proxy's paths onto it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.base = upstream.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def url(self, path: str, query: bytes) -> str:
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            url = self.base + path[len(API_PREFIX):]
        else:
            url = self.origin + path
        return f"{url}?{query.decode('latin-1')}" if query else url


def forwarded(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return _without(headers, NOT_FORWARDED)


def returned(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return _without(headers, NOT_RETURNED)


def _without(headers: list[tuple[bytes, bytes]], names: frozenset[str]) -> list[tuple[bytes, bytes]]:
    dropped = set(names)
    for name, value in headers:
        if name.lower() == b"connection":
            dropped.update(part.strip().lower() for part in value.decode("latin-1").split(","))
    return [(name, value) for name, value in headers if name.decode("latin-1").lower() not in dropped]
