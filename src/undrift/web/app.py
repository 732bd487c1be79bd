"""The dashboard's FastAPI app: each page module's routes over one `Site` (site.py), the static files with
Plotly's JavaScript, the answers to errors (problems.py), and the gatekeeper in front of all of them (security.py)."""

from __future__ import annotations

import os
import threading
from functools import partial
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException

from ..errors import UndriftError
from ..store import Store, as_store
from . import compare, history, overview, registry, review, traffic
from .assets import STATIC, TEMPLATES, plotly_js
from .memo import HistoryMemo, TrafficMemo
from .problems import problem
from .security import Access, Gatekeeper
from .site import Site

# Plotly's URL names its version, so a browser may keep the file a year: a new plotly is a new URL.
KEPT_A_YEAR = "public, max-age=31536000, immutable"


def create_app(db: Store | str | Path | None = None, token: str | None = None, warm: bool = False) -> FastAPI:
    """The dashboard over the store `db` (which must exist).  `token`: needed for every request when given; when
    not, one is made (`app.state.token`) and only write actions need it (security.py).  `warm`: compute the
    overview once in a background thread (`app.state.warm_up`) as the server starts, so the first visitor finds
    its histories and traffic reports kept (memo.py) instead of waiting for them."""
    access = Access.of(token)
    store = as_store(db, must_exist=True)
    plotly = plotly_js()
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    environment.globals["plotly_js"] = f"/static/plotly-{version('plotly')}.min.js"
    site = Site(store, HistoryMemo(store), TrafficMemo(store), Jinja2Templates(env=environment))
    app = FastAPI(title="undrift", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token, app.state.site = access.token, site

    @app.exception_handler(UndriftError)
    async def refused(request: Request, error: UndriftError) -> Response:
        return problem(site, request, 400, str(error))

    @app.exception_handler(HTTPException)
    async def failed(request: Request, error: HTTPException) -> Response:
        message = (f"there is no page at {request.url.path}: the overview links to every page"
                   if error.status_code == 404 else str(error.detail))
        answer = problem(site, request, error.status_code, message)
        answer.headers.update(error.headers or {})
        return answer

    for module in (overview, history, compare, registry, traffic, review):
        app.include_router(module.routes(site))

    static = StaticFiles(directory=STATIC)

    @app.get(environment.globals["plotly_js"])
    def plotly_file(request: Request) -> Response:
        """Sent once per browser: 304 to a request that names its ETag (If-None-Match), as StaticFiles answers."""
        answer = static.file_response(plotly, os.stat(plotly), request.scope)
        answer.headers["Cache-Control"] = KEPT_A_YEAR
        if answer.status_code == 200:
            answer.headers["Content-Type"] = "text/javascript; charset=utf-8"
        return answer

    @app.get("/favicon.ico")
    def icon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", static, name="static")
    app.add_middleware(Gatekeeper, access=access, problem=partial(problem, site))
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
