"""The traffic page: the live traffic `undrift proxy` recorded for one model, cut into windows as `undrift traffic`
cuts it; one windowed metric over time, the tests between the reference and the current window, and the recorded
responses that show a drift.  Also the overview's traffic headline.  Read through `undrift.recorded_models` and
`undrift.analyse_traffic`."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import RecordedModel, TrafficQuery, TrafficReport, recorded_models
from ..analysis.stats import wilson_interval
from ..errors import UndriftError
from ..store import Store
from ..traffic.metrics import Rate, WindowMetrics
from .figures import embedded, label
from .memo import TrafficMemo
from .site import Site, csv_response, named
from .tables import Cell, Table, file_name, rounded, significant, when

WINDOWS = ("1h", "6h", "1d", "7d")  # offered in the form; any width `undrift traffic --window` takes is accepted
REFERENCES = ("first", "previous")


# metric shown over time -> its value in a window: a Rate (drawn with its Wilson interval) or a number
METRICS: dict[str, Callable[[WindowMetrics], Rate | float | None]] = {
    "requests": lambda w: w.requests,
    "error rate": lambda w: w.errors,
    "refusal rate": lambda w: w.refusals,
    "JSON validity": lambda w: w.json_valid,
    "length p50 (chars)": lambda w: w.chars_median,
    "length mean (chars)": lambda w: w.chars_mean,
    "tokens out (mean)": lambda w: w.tokens_out_mean,
    "tokens in (mean)": lambda w: w.tokens_in_mean,
    "latency p50 (s)": lambda w: w.latency.p50 if w.latency else None,
    "latency p90 (s)": lambda w: w.latency.p90 if w.latency else None,
    "latency p99 (s)": lambda w: w.latency.p99 if w.latency else None,
    "TTFT p50 (s)": lambda w: w.ttft.p50 if w.ttft else None,
    "TTFT p99 (s)": lambda w: w.ttft.p99 if w.ttft else None,
}
DEFAULT_METRIC = "error rate"


@dataclass(frozen=True)
class TrafficChoice:
    """What the page's GET form chose; `model` None: the most recently seen one."""

    model: str | None = None
    window: str = "1d"
    reference: str = "first"
    metric: str = DEFAULT_METRIC
    meaning: bool = False  # the embeddings take seconds, so the page asks for them

    def query(self) -> TrafficQuery:
        if self.metric not in METRICS:
            raise UndriftError(f"no traffic metric {self.metric!r}: choose one of {', '.join(METRICS)}")
        return TrafficQuery.parse(model=self.model, window=self.window, reference=self.reference,
                                  meaning=self.meaning)

    def link(self, path: str = "/traffic") -> str:
        return path + "?" + urlencode({"model": self.model or "", "window": self.window,
                                       "reference": self.reference, "metric": self.metric,
                                       **({"meaning": "1"} if self.meaning else {})})


@dataclass(frozen=True)
class TrafficView:
    choice: TrafficChoice
    models: list[RecordedModel]  # empty: the proxy has recorded nothing yet
    report: TrafficReport | None
    tables: dict[str, Table]

    @property
    def metrics(self) -> list[str]:
        return list(METRICS)

    @property
    def windows(self) -> list[str]:
        return list(WINDOWS) + ([self.choice.window] if self.choice.window not in WINDOWS else [])

    @property
    def references(self) -> list[str]:
        return list(REFERENCES) + ([self.choice.reference] if self.choice.reference not in REFERENCES else [])

    @property
    def flagged(self) -> list[str]:
        return [t.metric for t in self.report.tests if t.drifted] if self.report else []

    def figure(self) -> str:
        return embedded(traffic_figure(self.report, self.choice.metric),
                        file_name(f"traffic-{self.choice.model}-{self.choice.metric}-{self.choice.window}"))


def traffic_link(model: str) -> str:
    return TrafficChoice(model).link()


def traffic_view(store: Store, memo: TrafficMemo, choice: TrafficChoice) -> TrafficView:
    """The report of the chosen model's traffic; bad choices (a window, a metric, a model with no traffic) raise."""
    choice.query()  # a bad window or metric is refused before anything is read
    models = recorded_models(db=store)
    if not models:
        return TrafficView(choice, models, None, {})
    if choice.model is None:
        choice = TrafficChoice(models[0].model, choice.window, choice.reference, choice.metric, choice.meaning)
    recorded = next((m for m in models if m.model == choice.model), None)
    if recorded is None:
        raise UndriftError(f"no traffic recorded for model {choice.model!r}: the recorded models are "
                           f"{', '.join(m.model for m in models)}")
    report = memo.get(choice.query(), recorded)
    return TrafficView(choice, models, report, _tables(report, choice))


def _tables(report: TrafficReport, choice: TrafficChoice) -> dict[str, Table]:
    stem = file_name(f"traffic-{choice.model}-{choice.window}")
    roles = {report.reference: "reference", report.current: "current"}
    windows = Table(f"{stem}-windows", "Windows", (
        "window start", "role", "requests", "errors", "refusals", "JSON ok", "chars p50", "tokens in", "tokens out",
        "latency p50", "latency p90", "latency p99", "TTFT p50", "served models", "fingerprints"),
        [(when(w.start), roles.get(i, ""), w.requests, _share(w.errors), _share(w.refusals), _share(w.json_valid),
          rounded(w.chars_median, 1), rounded(w.tokens_in_mean, 1), rounded(w.tokens_out_mean, 1),
          *(rounded(getattr(w.latency, p), 3) if w.latency else None for p in ("p50", "p90", "p99")),
          rounded(w.ttft.p50, 3) if w.ttft else None,
          ", ".join(w.served_models) + (" (changed)" if w.served_model_changed else ""),
          ", ".join(w.fingerprints) + (" (changed)" if w.fingerprint_changed else ""))
         for i, w in enumerate(report.windows)])
    tests = Table(f"{stem}-tests", "Drift tests, current window against the reference", (
        "metric", "test", "reference", "current", "n ref", "n cur", "effect", "estimate", "95% low", "95% high", "p",
        "p (Holm)", "verdict"),
        [(t.metric, t.test, rounded(t.reference), rounded(t.current), t.n_reference, t.n_current, t.effect,
          rounded(t.estimate), rounded(t.low), rounded(t.high), significant(t.p_value), significant(t.p_adjusted),
          Cell("shift", state="red") if t.drifted else ("not tested" if t.p_value is None else "no shift"))
         for t in report.tests],
        empty="nothing tested: all the traffic is in one window (choose a shorter window)")
    rows = [(s.metric, s.window, s.record_id, when(s.at), s.status,
             "yes" if isinstance(s.value, bool) else rounded(float(s.value)), s.text or "")
            for s in report.shown]
    if report.meaning is not None and report.meaning.available:
        rows += [(f"meaning: {'no longer said' if window == 'reference' else 'said instead'}", window, e.record_id,
                  when(e.at), "", rounded(e.witness), e.text)
                 for window, examples in (("reference", report.meaning.reference_examples),
                                          ("current", report.meaning.current_examples)) for e in examples]
    responses = Table(f"{stem}-responses", "Responses that show the shift", (
        "metric", "window", "record", "when", "status", "value", "response"), rows,
        empty="no metric shifted, so no response is singled out")
    return {"windows": windows, "tests": tests, "responses": responses}


def _share(rate: Rate) -> str:
    return f"{rate.value:.1%} of {rate.n}" if rate.n else ""


def traffic_figure(report: TrafficReport, metric: str) -> go.Figure:
    """`metric` per window, rates with their Wilson intervals; the reference and current windows and the windows
    whose served model or fingerprint changed are marked."""
    windows = report.windows
    values = [METRICS[metric](w) for w in windows]
    x = [w.start for w in windows]
    error_y = None
    if values and isinstance(values[0], Rate):
        intervals = [wilson_interval(v.count, v.n) if v.n else None for v in values]
        error_y = {"type": "data", "visible": True,
                   "array": [(c[1] - v.value) if c else 0 for v, c in zip(values, intervals)],
                   "arrayminus": [(v.value - c[0]) if c else 0 for v, c in zip(values, intervals)]}
        values = [v.value for v in values]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=label(metric), error_y=error_y,
                                hovertemplate="%{x}<br>%{y:.4g}<extra></extra>"))
    marks = [(report.reference, "reference window", "#1565c0", "square-open"),
             (report.current, "current window", "#c62828" if report.drifted else "#2e7d32", "circle-open")]
    for index, name, colour, symbol in marks:
        if index is not None and values[index] is not None:
            figure.add_trace(go.Scatter(x=[x[index]], y=[values[index]], mode="markers", name=name,
                                        marker={"symbol": symbol, "size": 16, "color": colour, "line": {"width": 2}},
                                        hoverinfo="skip"))
    moved = [i for i, w in enumerate(windows) if (w.served_model_changed or w.fingerprint_changed)
             and values[i] is not None]
    if moved:
        figure.add_trace(go.Scatter(
            x=[x[i] for i in moved], y=[values[i] for i in moved], mode="markers", name="served model changed",
            marker={"symbol": "diamond-open", "size": 18, "color": "#6a1b9a"},
            hovertext=[label(", ".join(windows[i].served_models + windows[i].fingerprints)) for i in moved],
            hoverinfo="text"))
    figure.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 20, "t": 30, "b": 50},
                         xaxis_title=f"window start (UTC), windows of {report.query.window_text}",
                         yaxis_title=label(metric), showlegend=True, legend={"orientation": "h", "y": -0.2})
    return figure


def traffic_headline(store: Store, memo: TrafficMemo) -> Table | None:
    """The overview's traffic table: each recorded model's newest window and whether its latest drift test (the
    page's defaults: daily windows, the current against the first) flags a shift; None where nothing is recorded."""
    models = recorded_models(db=store)
    if not models:
        return None
    rows = []
    for model in models:
        report = memo.get(TrafficChoice(model.model).query(), model)
        newest = report.windows[report.current]
        verdict = (Cell("shift: " + "; ".join([t.metric for t in report.tests if t.drifted] + report.changes),
                        state="red") if report.drifted
                   else "one window: nothing to compare yet" if report.reference is None else "no shift")
        rows.append((Cell(model.model, href=traffic_link(model.model)), when(newest.start), newest.requests,
                     _share(newest.errors), _share(newest.refusals),
                     rounded(newest.latency.p50, 3) if newest.latency else None, verdict))
    return Table("traffic", "Traffic (recorded by the proxy, daily windows)", (
        "model", "newest window", "requests", "errors", "refusals", "latency p50 (s)", "latest drift test"), rows)


def _choice(model: str, window: str, reference: str, metric: str, meaning: str) -> TrafficChoice:
    return TrafficChoice(model or None, window or "1d", reference or "first", metric or DEFAULT_METRIC,
                         meaning not in ("", "0"))


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    @router.get("/traffic", response_class=HTMLResponse)
    def traffic_page(request: Request, model: str = "", window: str = "", reference: str = "", metric: str = "",
                     meaning: str = "") -> HTMLResponse:
        view = traffic_view(site.store, site.traffic, _choice(model, window, reference, metric, meaning))
        return site.page(request, "traffic.html", view=view, db_hint=shlex.quote(site.store.safe_url))

    @router.get("/traffic/{table}.csv")
    def traffic_csv(table: str, model: str = "", window: str = "", reference: str = "", metric: str = "",
                    meaning: str = "") -> Response:
        view = traffic_view(site.store, site.traffic, _choice(model, window, reference, metric, meaning))
        return csv_response(named(view.tables, table))

    return router
