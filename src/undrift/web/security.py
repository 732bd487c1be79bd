"""Who may read and write on the dashboard, checked before any route runs (a plain ASGI middleware, so that unknown
routes and every method are covered alike).

- The dashboard has one token.  Given (`--token`), every request needs it; not given, one is made at start-up and
  printed in the URL `undrift ui` shows, and only write actions need it (reads are open to this machine only, as
  the server is bound to localhost).  A browser presents it once as `?token=`; it is then kept in an HttpOnly,
  SameSite=Strict cookie and the URL is redirected without it, so it stays out of history and Referer headers.
  Scripts may send it as `X-Undrift-Token` or `Authorization: Bearer`.  A given token has at least 16 characters.
- The cookies' names carry the port the request's Host header names (`undrift_ui_token_8800`): a browser shares
  cookies across the ports of one host, and two dashboards on one machine would otherwise overwrite each other's
  token.  The port, not a name made up at start-up, so that the same dashboard started again on its port with the
  same --token finds its cookie still good (a made-up token changes anyway, and the refusal says to open the
  address `undrift ui` printed).
- Every write (any method but GET, HEAD and OPTIONS) needs the token always, and a CSRF token as well
  (double-submit: a random per-session value in a cookie must come back in the `csrf_token` form field or the
  `X-CSRF-Token` header); both are compared in constant time.  A write without the CSRF token is refused (403)
  even with the right dashboard token.
- Without a given token, a request must name a loopback host in its Host header (in any case: host names are
  case-insensitive), so that a web page whose domain is re-pointed at 127.0.0.1 (DNS rebinding) cannot read the
  dashboard.
- The dashboard's own static files (its style sheet, script, icon and Plotly, nothing from the store) are read
  without the token, so that a refusal is shown as a page in the site's layout.
- A refusal is answered as the app answers its errors (`problem`, problems.py): a page for a browser that says
  what to do, plain text or JSON for a script that asks for them.
- Every response carries a Content-Security-Policy that allows scripts from the dashboard itself only: even text
  that escaped escaping could not run.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import UndriftError, option
from ..serving.guard import is_loopback

TOKEN_COOKIE = "undrift_ui_token"
CSRF_COOKIE = "undrift_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_TOKEN_CHARS = 16
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(24))"'
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
        if len(token.strip()) < MIN_TOKEN_CHARS:
            raise UndriftError(f"{option('token')} is shorter than {MIN_TOKEN_CHARS} characters: make one with "
                               f"{MAKE_TOKEN}, or leave it out")
        return cls(token, True)

    def matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets, either of which may be missing."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def host_and_port(header: str) -> tuple[str, str]:
    """A Host header's host, lowercased, and its port ("" when it names none): `[::1]:8000` -> (`::1`, `8000`)."""
    if header.startswith("["):
        host, _, rest = header[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
    elif header.count(":") == 1:
        host, port = header.split(":")
    else:
        host, port = header, ""
    return host.lower(), port


@dataclass(frozen=True)
class Cookies:
    """The names of this dashboard's cookies for a request: suffixed with the port its Host header names."""

    token: str
    csrf: str

    @classmethod
    def of(cls, request: Request) -> Cookies:
        port = host_and_port(request.headers.get("host", ""))[1]
        suffix = f"_{port}" if port.isdigit() else ""
        return cls(TOKEN_COOKIE + suffix, CSRF_COOKIE + suffix)


class Gatekeeper:
    """The ASGI middleware that applies the rules in this module's docstring; the CSRF value of the session is
    left in `request.state.csrf` for forms to carry.  `problem(request, status, message)` answers a refusal."""

    def __init__(self, app, access: Access, problem: Callable[[Request, int, str], Response]) -> None:
        self.app, self.access, self.problem = app, access, problem

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request, refuse = Request(scope), self._refuser(scope, receive, send)
        cookies = Cookies.of(request)
        csrf = request.cookies.get(cookies.csrf) or ""
        fresh = not csrf
        if fresh:
            csrf = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf"] = csrf  # before any refusal: its page is a page of the site
        if not self.access.reads_need_token and not is_loopback(host_and_port(request.headers.get("host", ""))[0]):
            await refuse(403, "this dashboard answers only to localhost; start `undrift ui` with --token to let "
                              "other hosts in")
            return
        given = request.query_params.get("token")
        if given is not None and request.method in SAFE_METHODS:
            await self._remember_token(request, given, cookies, scope, receive, send)
            return
        authorised = self.access.matches(_presented_token(request, cookies))
        if request.method not in SAFE_METHODS:
            if not authorised:
                await refuse(401, "writing needs the dashboard's token: open the address `undrift ui` printed (it "
                                  "carries ?token=), or send X-Undrift-Token from a script")
                return
            body = await _read_body(receive)
            if body is None:
                await refuse(413, f"the request body is over {MAX_FORM_BYTES} bytes")
                return
            sent = request.headers.get(CSRF_HEADER) or _form_field(request, body, CSRF_FIELD)
            if fresh or not same(sent, csrf):
                await refuse(403, "missing or wrong CSRF token: reload the page and submit its form again")
                return
            receive = _replay(body, receive)
        elif self.access.reads_need_token and not authorised and not _own_file(request.url.path):
            await refuse(401, "this dashboard needs its token: open the address `undrift ui` printed, "
                              "http://HOST:PORT/?token=TOKEN with your --token")
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if fresh:
                    headers.append((b"set-cookie", _cookie(cookies.csrf, csrf)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _remember_token(self, request: Request, given: str, cookies: Cookies, scope, receive, send) -> None:
        """`?token=` on a page: keep the token in a cookie and show the same page without it in the URL."""
        if not self.access.matches(given):
            await self._refuser(scope, receive, send)(401, "wrong token in ?token=: open the address `undrift ui` "
                                                           "printed")
            return
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.raw_headers.append((b"set-cookie", _cookie(cookies.token, given)))
        response.raw_headers.extend(HEADERS)
        await response(scope, receive, send)

    def _refuser(self, scope, receive, send):
        """Answers a refusal through `problem`, with the headers every response carries."""

        async def refuse(status: int, message: str) -> None:
            response = self.problem(Request(scope), status, message)
            response.raw_headers.extend(HEADERS)
            await response(scope, receive, send)

        return refuse


def _own_file(path: str) -> bool:
    """The dashboard's own files, read without the token."""
    return path.startswith("/static/") or path == "/favicon.ico"


def _presented_token(request: Request, cookies: Cookies) -> str | None:
    header = request.headers.get("x-undrift-token")
    if header:
        return header
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.cookies.get(cookies.token)


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
