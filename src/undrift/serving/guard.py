"""What is checked before a request reaches a route: the bearer token, and the size of the body.

A plain ASGI middleware rather than a FastAPI dependency, so that it also covers unknown routes and refuses an
oversized body (413) before anything parses it; the body is read here, up to the limit, and replayed to the app.
"""

from __future__ import annotations

import hmac
import ipaddress

from .errors import ApiError


class Guard:
    def __init__(self, app, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.token is not None and not self._authorized(headers.get(b"authorization", b"")):
            error = ApiError(401, "missing or wrong API key: send `Authorization: Bearer TOKEN` with the server's "
                                  "--token", code="invalid_api_key")
            await error.response()(scope, receive, send)
            return
        too_large = ApiError(413, f"the request body is over this server's limit of {self.max_body_bytes} bytes "
                                  "(--max-body-bytes)", code="request_too_large")
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_large.response()(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await too_large.response()(scope, receive, send)
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

    def _authorized(self, header: bytes) -> bool:
        scheme, _, credential = header.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self.token.encode())


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (`localhost`, 127.0.0.0/8, ::1): no token needed there."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
