"""The dashboard's FastAPI app: each page module's routes over one `Site` (site.py), the static files with
Plotly's JavaScript, and the gatekeeper in front of all of them (security.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..errors import UndriftError
from ..store import Store, as_store
from . import compare, history, overview, registry, review, traffic
from .assets import STATIC, TEMPLATES, plotly_js
from .memo import HistoryMemo, TrafficMemo
from .security import Access, Gatekeeper
from .site import Site


def create_app(db: Store | str | Path | None = None, token: str | None = None, warm: bool = False) -> FastAPI:
    """The dashboard over the store `db` (which must exist).  `token`: needed for every request when given; when
    not, one is made (`app.state.token`) and only write actions need it (security.py).  `warm`: compute the
    overview once in a background thread (`app.state.warm_up`) as the server starts, so the first visitor finds
    its histories and traffic reports kept (memo.py) instead of waiting for them."""
    store = as_store(db, must_exist=True)
    access = Access.of(token)
    plotly = plotly_js()
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    site = Site(store, HistoryMemo(store), TrafficMemo(store), Jinja2Templates(env=environment))
    app = FastAPI(title="undrift", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token, app.state.site = access.token, site

    @app.exception_handler(UndriftError)
    async def refused(request: Request, problem: UndriftError) -> HTMLResponse:
        return site.page(request, "problem.html", 400, problem=str(problem))

    for module in (overview, history, compare, registry, traffic, review):
        app.include_router(module.routes(site))

    @app.get("/static/plotly.min.js")
    def plotly_file() -> FileResponse:
        return FileResponse(plotly, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Gatekeeper, access=access)
    if warm:
        app.state.warm_up = threading.Thread(target=_warm, args=(site,), name="undrift-ui-warm-up", daemon=True)
        app.state.warm_up.start()
    return app


def _warm(site: Site) -> None:
    """The overview's work, done ahead of its first visitor.  A failure here is left for that visit to meet and
    show: the page computes what the warm-up could not."""
    try:
        overview.overview(site.store, site.memo, site.traffic)
    except Exception:  # noqa: BLE001 - the page reports it; a warm-up only saves time
        pass
