"""What every page of the dashboard shares: the store, the history and traffic memos, the templates, and how a page,
a CSV download and a refusal are answered.  Each page module builds its routes from one `Site` (`routes(site)`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from ..errors import UndriftError
from ..store import Store
from .memo import HistoryMemo, TrafficMemo
from .security import CSRF_FIELD
from .tables import Table


@dataclass(frozen=True)
class Site:
    store: Store
    memo: HistoryMemo
    traffic: TrafficMemo
    templates: Jinja2Templates

    def page(self, request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        """A page from `template` (autoescaped), with the CSRF token its forms send back."""
        return self.templates.TemplateResponse(request, template, {"csrf_field": CSRF_FIELD,
                                                                   "csrf": request.state.csrf, **context},
                                               status_code=status)


async def form_fields(request: Request) -> dict[str, str]:
    """A posted urlencoded form's fields, the first value of each (the Gatekeeper has already checked its size and
    its CSRF field).  Read with the standard library: FastAPI's `Form` would need python-multipart for this alone."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise UndriftError("this action is posted as a form (application/x-www-form-urlencoded): use the page's form")
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def named(tables: dict[str, Table], name: str) -> Table:
    """The table a download URL names, or one line listing the page's tables."""
    if name not in tables:
        raise UndriftError(f"no table {name!r} here: the tables are {', '.join(tables)}")
    return tables[name]


def csv_response(table: Table) -> Response:
    return Response(table.csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'})
