"""What is checked before a request reaches a route: the server's own token, and the size of the body; and the
rule that a server reachable from other machines must have a token.

A plain ASGI middleware rather than a FastAPI dependency, so that it also covers unknown routes and refuses an
oversized body (413) before anything parses it; the body is read here, up to the limit, and replayed to the app.
`undrift serve` takes its token in `Authorization` (clients send it as their API key); `undrift proxy` forwards that
header to its upstream, so it takes its own in `Proxy-Authorization` or `X-Undrift-Token` instead.
"""

from __future__ import annotations

import hmac
from typing import Callable
import ipaddress

from ..errors import UndriftError, option
from .errors import ApiError

# (header, whether its value must read `Bearer TOKEN`; else the bare token)
BEARER_AUTHORIZATION = ((b"authorization", True),)


class Guard:
    def __init__(self, app, token: str | None, max_body_bytes: int, *,
                 token_headers: tuple[tuple[bytes, bool], ...] = BEARER_AUTHORIZATION,
                 credential: str = "API key",
                 token_hint: str = "send `Authorization: Bearer TOKEN` with the server's --token",
                 body_option: str = "--max-body-bytes", on_refuse: Callable[[int], None] | None = None) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes
        # The 401 reads "missing or wrong {credential}: {token_hint}": serve's callers send its token as their API key;
        # the proxy's send theirs as the API key too, for the upstream, and the proxy's own token beside it.
        self.credential, self.token_hint = credential, token_hint
        self.token_headers, self.body_option = token_headers, body_option
        self.on_refuse = on_refuse  # told the status of each request refused here (the proxy counts them)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.token is not None and not self._authorized(headers):
            error = ApiError(401, f"missing or wrong {self.credential}: {self.token_hint}", code="invalid_api_key")
            await self._refuse(error, scope, receive, send)
            return
        too_large = ApiError(413, f"the request body is over this server's limit of {self.max_body_bytes} bytes "
                                  f"({self.body_option})", code="request_too_large")
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(too_large, scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await self._refuse(too_large, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body, the next message is the client going away
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, error: ApiError, scope, receive, send) -> None:
        if self.on_refuse is not None:
            self.on_refuse(error.status)
        await error.response()(scope, receive, send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        return any(self._matches(headers[name], bearer) for name, bearer in self.token_headers if name in headers)

    def _matches(self, header: bytes, bearer: bool) -> bool:
        credential = header.decode("latin-1")
        if bearer:  # `Bearer TOKEN`, the two split by any whitespace (RFC 7235 allows tabs)
            parts = credential.split(None, 1)
            if len(parts) != 2 or parts[0].lower() != "bearer":
                return False
            credential = parts[1]
        return hmac.compare_digest(credential.strip().encode(), self.token.encode())


def refuse_open_without_token(host: str, token: str | None, how: str) -> None:
    """A server bound beyond this machine without a token would serve anyone who can reach it: refuse to start.
    `how` names the token option and what callers do with it."""
    if not is_loopback(host) and not token:
        raise UndriftError(f"{option('host', repr(host))} lets other machines in: {how}")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (`localhost` in any case, 127.0.0.0/8, ::1): no token needed
    there."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
