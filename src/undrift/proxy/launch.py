"""Starting `undrift proxy`: refuse an open address without a token and bad patterns before the store is touched,
open a store that can be written, run uvicorn."""

from __future__ import annotations

from starlette.applications import Starlette

from ..errors import UndriftError
from ..serving.guard import refuse_open_without_token
from .app import create_app
from .options import ProxyOptions
from .redact import Redactor


def prepare(options: ProxyOptions, host: str, db: str | None) -> Starlette:
    from ..store import Store

    refuse_open_without_token(host, options.token, "give --token (or $UNDRIFT_PROXY_TOKEN) so that only callers "
                                                   "sending it in Proxy-Authorization are let through")
    redactor = Redactor(options.redact)
    store = Store.open(db)
    if store.read_only:
        raise UndriftError(f"the store {store.safe_url} is read-only here, and the proxy writes traffic into it: "
                           "give --db where you can write")
    return create_app(options, store, redactor)


def run(app: Starlette, host: str, port: int) -> None:
    """uvicorn without its own Server and Date headers: the upstream's pass through instead."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, date_header=False,
                timeout_graceful_shutdown=5)
