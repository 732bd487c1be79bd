"""Who may read and write on the dashboard, checked before any route runs (a plain ASGI middleware, so that unknown
routes and every method are covered alike).

- The dashboard has one token.  Given (`--token`), every request needs it; not given, one is made at start-up and
  printed in the URL `undrift ui` shows, and only write actions need it (reads are open to this machine only, as
  the server is bound to localhost).  A browser presents it once as `?token=`; it is then kept in an HttpOnly,
  SameSite=Strict cookie and the URL is redirected without it, so it stays out of history and Referer headers.
  Scripts may send it as `X-Undrift-Token` or `Authorization: Bearer`.
- Every write (any method but GET, HEAD and OPTIONS) needs the token always, and a CSRF token as well
  (double-submit: a random per-session value in a cookie must come back in the `csrf_token` form field or the
  `X-CSRF-Token` header); both are compared in constant time.  A write without the CSRF token is refused (403)
  even with the right dashboard token.
- Without a given token, a request must name a loopback host in its Host header, so that a web page whose domain
  is re-pointed at 127.0.0.1 (DNS rebinding) cannot read the dashboard.
- Every response carries a Content-Security-Policy that allows scripts from the dashboard itself only: even text
  that escaped escaping could not run.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from ..errors import UndriftError, option
from ..serving.guard import is_loopback

TOKEN_COOKIE = "undrift_ui_token"
CSRF_COOKIE = "undrift_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1_000_000
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                                 b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


@dataclass(frozen=True)
class Access:
    """The dashboard's token and whether reads need it too (they do when the user gave it)."""

    token: str
    reads_need_token: bool

    @classmethod
    def of(cls, token: str | None) -> Access:
        if token is None:
            return cls(secrets.token_urlsafe(24), False)
        if not token.strip():
            raise UndriftError(f"{option('token')} is empty: give a secret of a few words, or leave it out")
        return cls(token, True)

    def matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets, either of which may be missing."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def host_of(header: str) -> str:
    """The host of a Host header without its port (`[::1]:8000` -> `::1`)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Gatekeeper:
    """The ASGI middleware that applies the rules in this module's docstring; the CSRF value of the session is
    left in `request.state.csrf` for forms to carry."""

    def __init__(self, app, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not self.access.reads_need_token and not is_loopback(host_of(request.headers.get("host", ""))):
            await _refuse(403, "this dashboard answers only to localhost; start `undrift ui` with --token to let "
                               "other hosts in", scope, receive, send)
            return
        given = request.query_params.get("token")
        if given is not None and request.method in SAFE_METHODS:
            await self._remember_token(request, given, scope, receive, send)
            return
        authorised = self.access.matches(_presented_token(request))
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        fresh = not csrf
        if fresh:
            csrf = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf"] = csrf
        if request.method not in SAFE_METHODS:
            if not authorised:
                await _refuse(401, "writing needs the dashboard's token: open the address `undrift ui` printed (it "
                                   "carries ?token=) or send X-Undrift-Token", scope, receive, send)
                return
            body = await _read_body(receive)
            if body is None:
                await _refuse(413, f"the request body is over {MAX_FORM_BYTES} bytes", scope, receive, send)
                return
            sent = request.headers.get(CSRF_HEADER) or _form_field(request, body, CSRF_FIELD)
            if fresh or not same(sent, csrf):
                await _refuse(403, "missing or wrong CSRF token: reload the page and submit its form again",
                              scope, receive, send)
                return
            receive = _replay(body, receive)
        elif self.access.reads_need_token and not authorised:
            await _refuse(401, "this dashboard needs its token: open it as http://HOST:PORT/?token=TOKEN",
                          scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if fresh:
                    headers.append((b"set-cookie", _cookie(CSRF_COOKIE, csrf)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _remember_token(self, request: Request, given: str, scope, receive, send) -> None:
        """`?token=` on a page: keep the token in a cookie and show the same page without it in the URL."""
        if not self.access.matches(given):
            await _refuse(401, "wrong token in ?token=: use the address `undrift ui` printed", scope, receive, send)
            return
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.raw_headers.append((b"set-cookie", _cookie(TOKEN_COOKIE, given)))
        response.raw_headers.extend(HEADERS)
        await response(scope, receive, send)


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("x-undrift-token")
    if header:
        return header
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.cookies.get(TOKEN_COOKIE)


def _cookie(name: str, value: str) -> bytes:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")


def _form_field(request: Request, body: bytes, name: str) -> str | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get(name)
    return values[0] if values else None


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(status: int, message: str, scope, receive, send) -> None:
    response = PlainTextResponse(message, status_code=status)
    response.raw_headers.extend(HEADERS)
    await response(scope, receive, send)
