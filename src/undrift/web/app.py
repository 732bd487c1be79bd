"""The dashboard's FastAPI app: pages rendered by Jinja2 (autoescaped), their CSV downloads, and the static files,
Plotly's JavaScript included.  Every route reads through the public API (overview.py, history.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..errors import UndriftError
from ..store import Store, as_store
from .assets import STATIC, TEMPLATES, plotly_js
from .history import history_view
from .memo import HistoryMemo
from .overview import history_link, overview
from .security import CSRF_FIELD, Access, Gatekeeper
from .tables import Table


def create_app(db: Store | str | Path | None = None, token: str | None = None) -> FastAPI:
    """The dashboard over the store `db` (which must exist).  `token`: needed for every request when given; when
    not, one is made (`app.state.token`) and only write actions need it (security.py)."""
    store = as_store(db, must_exist=True)
    access = Access.of(token)
    plotly = plotly_js()
    memo = HistoryMemo(store)
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    templates = Jinja2Templates(env=environment)
    app = FastAPI(title="undrift", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token = access.token

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {"csrf_field": CSRF_FIELD,
                                                              "csrf": request.state.csrf, **context},
                                          status_code=status)

    @app.exception_handler(UndriftError)
    async def refused(request: Request, problem: UndriftError) -> HTMLResponse:
        return page(request, "problem.html", 400, problem=str(problem))

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> HTMLResponse:
        return page(request, "overview.html", view=overview(store, memo))

    @app.get("/overview/{table}.csv")
    def overview_csv(table: str) -> Response:
        return _csv(_named(overview(store, memo).tables, table))

    @app.get("/history", response_class=HTMLResponse)
    def history_page(request: Request, name: str = "", task: str = "", metric: str = "") -> HTMLResponse:
        if not name:
            raise UndriftError("the history page needs a model name: /history?name=NAME (the overview links each)")
        try:
            view = history_view(memo, name, task or None, metric or None)
        except UndriftError as problem:  # a task or metric this name lacks: offer its headline series instead
            if not (task or metric):
                raise
            return page(request, "problem.html", 400, problem=str(problem), back=history_link(name), back_name=name)
        return page(request, "history.html", view=view)

    @app.get("/history.csv")
    def history_csv(name: str = "", task: str = "", metric: str = "") -> Response:
        if not name:
            raise UndriftError("the history download needs a model name: /history.csv?name=NAME")
        return _csv(history_view(memo, name, task or None, metric or None).table)

    @app.get("/static/plotly.min.js")
    def plotly_file() -> FileResponse:
        return FileResponse(plotly, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Gatekeeper, access=access)
    return app


def _named(tables: dict[str, Table], name: str) -> Table:
    if name not in tables:
        raise UndriftError(f"no table {name!r} here: the tables are {', '.join(tables)}")
    return tables[name]


def _csv(table: Table) -> Response:
    return Response(table.csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'})
