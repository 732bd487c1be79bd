"""The history page: one metric of one task of a model name over time, with its intervals (Wilson's for a rate
asked once per sample), its change points, the runs where the fingerprint or the model version changed and the
registry's alias moves; read through `undrift.history` and `undrift.Registry`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import runs
from ..analysis.history import ModelHistory, TaskHistory
from ..analysis.metrics import METRICS
from ..errors import UndriftError
from .figures import embedded, label
from .memo import HistoryMemo
from .site import Site, csv_response
from .compare import compare_link
from .tables import Cell, Table, file_name, rounded, significant, when
from .versions import VersionMarks, version_marks


@dataclass(frozen=True)
class HistoryView:
    name: str
    metric: str | None  # as asked for; None: each task's headline metric
    slice: str | None  # as asked for; None: every sample
    slices: list[str]  # the name's slice tags, to choose from
    tasks: list[str]
    series: TaskHistory
    decision: str
    marks: VersionMarks
    table: Table

    @property
    def metrics(self) -> list[str]:
        return list(METRICS)

    def figure(self) -> str:
        scope = f"-{self.slice}" if self.slice else ""
        return embedded(history_figure(self.series, self.marks),
                        file_name(f"{self.name}-{self.series.task}{scope}-{self.series.metric}"))


def history_link(name: str) -> str:
    return "/history?" + urlencode({"name": name})


def history_view(memo: HistoryMemo, name: str, task: str | None = None, metric: str | None = None,
                 slice: str | None = None) -> HistoryView:
    """The series of `task` (default: the first) measured by `metric` (default: its headline metric), on the
    samples of `slice` (default: all)."""
    records = runs(name=name, limit=None, db=memo.store)
    found: ModelHistory = memo.get(name, metric or None, records, slice or None)
    tasks = [t.task for t in found.tasks]
    chosen = task or tasks[0]
    series = next((t for t in found.tasks if t.task == chosen), None)
    if series is None:
        raise UndriftError(f"{name!r} has no series for task {chosen!r} here: its tasks are {', '.join(tasks)}")
    marks = version_marks(memo.store, name, records)
    return HistoryView(name, metric or None, slice or None, found.slices, tasks, series, found.decision, marks,
                       history_table(name, series, marks, slice or None))


def history_table(name: str, series: TaskHistory, marks: VersionMarks, slice: str | None = None) -> Table:
    rows = []
    for point in series.points:
        low, high = point.ci if point.ci else (None, None)
        rows.append((when(point.created_at), point.run_id, marks.model.get(point.run_id, ""), point.n,
                     round(point.value, 4), rounded(low), rounded(high), rounded(point.delta), significant(point.p),
                     "yes" if point.change_point else "", "; ".join(point.fingerprint_changes),
                     marks.changed.get(point.run_id, ""), _compared(point.baseline, point.run_id)))
    scope = f" (slice {slice})" if slice else ""
    return Table(file_name(f"history-{name}-{series.task}{f'-{slice}' if slice else ''}-{series.metric}"),
                 f"{series.task}{scope}: {series.metric} by run",
                 ("when", "run", "model", "samples", series.metric, "ci low", "ci high", "change vs baseline", "p",
                  "change point", "fingerprint changes", "model changed", "compare with baseline"), rows)


def _compared(baseline: list[str], run_id: str) -> Cell | None:
    """The comparison page of a run with the one run it was tested against (a baseline of several: none)."""
    return Cell(f"vs {baseline[0]}", href=compare_link(baseline[0], run_id)) if len(baseline) == 1 else None


def history_figure(series: TaskHistory, marks: VersionMarks) -> go.Figure:
    points = series.points
    x = [p.created_at for p in points]
    y = [p.value for p in points]
    upper = [(p.ci[1] - p.value) if p.ci else 0 for p in points]
    lower = [(p.value - p.ci[0]) if p.ci else 0 for p in points]
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=x, y=y, mode="lines+markers", name=label(f"{series.task} {series.metric}"),
        error_y={"type": "data", "array": upper, "arrayminus": lower, "visible": True},
        customdata=[p.run_id for p in points], hovertemplate="run %{customdata}<br>%{y:.3f}<extra></extra>"))
    changes = [p for p in points if p.change_point]
    if changes:
        figure.add_trace(go.Scatter(
            x=[p.created_at for p in changes], y=[p.value for p in changes], mode="markers", name="change point",
            marker={"symbol": "x", "size": 14, "color": "#c62828"},
            hovertext=[f"change point: {p.delta:+.3f} (p = {p.p:.2g})" for p in changes], hoverinfo="text"))
    moved = [p for p in points if p.fingerprint_changes]
    if moved:
        figure.add_trace(go.Scatter(
            x=[p.created_at for p in moved], y=[p.value for p in moved], mode="markers", name="fingerprint changed",
            marker={"symbol": "diamond-open", "size": 16, "color": "#6a1b9a"},
            hovertext=[label("fingerprint: " + ", ".join(p.fingerprint_changes)) for p in moved], hoverinfo="text"))
    switched = [p for p in points if p.run_id in marks.changed]
    if switched:
        figure.add_trace(go.Scatter(
            x=[p.created_at for p in switched], y=[p.value for p in switched], mode="markers", name="model changed",
            marker={"symbol": "square-open", "size": 20, "color": "#1565c0"},
            hovertext=[label("model: " + marks.changed[p.run_id]) for p in switched], hoverinfo="text"))
    for move in marks.moves:
        figure.add_shape(type="line", x0=move.at, x1=move.at, yref="paper", y0=0, y1=1,
                         line={"color": "#ef6c00", "dash": "dot", "width": 1})
        figure.add_annotation(x=move.at, yref="paper", y=1, yanchor="bottom", text=label(move.text), showarrow=False,
                              font={"size": 10, "color": "#ef6c00"})
    figure.update_layout(template="plotly_white", height=420,
                         margin={"l": 60, "r": 20, "t": 50 if marks.moves else 30, "b": 50},
                         xaxis_title="run time (UTC)", yaxis_title=label(series.metric),
                         showlegend=True, legend={"orientation": "h", "y": -0.2})
    return figure


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    @router.get("/history", response_class=HTMLResponse)
    def history_page(request: Request, name: str = "", task: str = "", metric: str = "",
                     slice: str = "") -> HTMLResponse:
        if not name:
            raise UndriftError("the history page needs a model name: /history?name=NAME (the overview links each)")
        try:
            view = history_view(site.memo, name, task or None, metric or None, slice or None)
        except UndriftError as problem:  # a task, metric or slice this name lacks: offer its headline series
            if not (task or metric or slice):
                raise
            return site.page(request, "problem.html", 400, problem=str(problem), back=history_link(name),
                             back_name=name)
        return site.page(request, "history.html", view=view)

    @router.get("/history.csv")
    def history_csv(name: str = "", task: str = "", metric: str = "", slice: str = "") -> Response:
        if not name:
            raise UndriftError("the history download needs a model name: /history.csv?name=NAME")
        return csv_response(history_view(site.memo, name, task or None, metric or None, slice or None).table)

    return router
