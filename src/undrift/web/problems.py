"""How the dashboard answers what it cannot show or will not do, for the gatekeeper's refusals (security.py) and the
app's errors alike: a page in the site's layout for a browser, titled for what happened and saying what to do next;
the same sentence as JSON (`{"detail": ...}`) or plain text for a script whose Accept header prefers those."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from .security import SAFE_METHODS
from .site import Site

TITLES = {401: "Token needed", 403: "Refused", 404: "Not found", 405: "Refused", 413: "Refused"}


def title(status: int, method: str) -> str:
    """What the page is titled: a read that failed "Cannot show this", a write that failed "Refused"."""
    return TITLES.get(status) or ("Cannot show this" if method in SAFE_METHODS else "Refused")


def preferred(accept: str) -> str:
    """"json" or "text" when the Accept header ranks application/json or text/plain above HTML; else "html" (a
    browser names text/html; `*/*` or no header gets the page too)."""
    ranks: dict[str, float] = {}
    for item in accept.lower().split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = next((p.removeprefix("q=") for p in parameters if p.startswith("q=")), "1")
        try:
            ranks[media] = max(float(quality), ranks.get(media, 0.0))
        except ValueError:
            continue
    page = max(ranks.get("text/html", 0.0), ranks.get("application/xhtml+xml", 0.0))
    data, text = ranks.get("application/json", 0.0), ranks.get("text/plain", 0.0)
    if data > page and data >= text:
        return "json"
    return "text" if text > page else "html"


def problem(site: Site, request: Request, status: int, message: str, **context) -> Response:
    """The answer to a request that failed with `message` (a sentence that says how to mend it)."""
    kind = preferred(request.headers.get("accept", ""))
    if kind == "json":
        return JSONResponse({"detail": message}, status_code=status)
    if kind == "text":
        return PlainTextResponse(message, status_code=status)
    return site.page(request, "problem.html", status, title=title(status, request.method), problem=message,
                     **context)
