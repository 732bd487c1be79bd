"""The compare page: two runs sample by sample, read through `undrift.compare`: each metric old/new with its
interval and test (BH-adjusted across tasks), NFR/PFR/BTC/BEC, which samples each version got right (regress /
common / progress), and the flipped and changed samples with both answers side by side, their differences marked
word by word (diff.py).  Task, slice and kind of flip filter what is shown, as GET parameters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import compare, runs
from ..analysis.compare import Comparison, Flip, GroupComparison, MetricChange
from ..errors import UndriftError
from ..report.terminal import fingerprint_differences
from ..store import RunRecord, Store
from .diff import WordDiff, word_diff
from .figures import embedded, label
from .site import Site, csv_response, named
from .tables import Cell, Table, file_name, rounded, significant, when

KINDS = ("negative", "positive", "changed")
SHOWN = 100  # flipped and changed samples drawn side by side; the CSV has every one the filters keep
CHOICES = 50  # newest runs offered in the pickers
VERDICT_STATE = {"worse": "red", "better": "green", "changed": "amber"}
OUTCOMES = (("regress", "#c62828"), ("common", "#90a4ae"), ("progress", "#2e7d32"), ("both wrong", "#eceff1"))


@dataclass(frozen=True)
class Filters:
    """What the page shows of a comparison: one task, one slice, one kind of flip (None: all)."""

    task: str | None = None
    slice: str | None = None
    kind: str | None = None

    def keeps(self, group: GroupComparison) -> bool:
        return self.task in (None, group.task) and self.slice in (None, group.slice)

    def keeps_sample(self, flip: Flip) -> bool:
        return (self.task in (None, flip.task) and self.kind in (None, flip.kind)
                and (self.slice is None or self.slice in flip.slices))


@dataclass(frozen=True)
class SidePair:
    """One flipped or changed sample with both answers, escaped and marked where they differ."""

    flip: Flip
    diff: WordDiff


@dataclass(frozen=True)
class CompareView:
    comparison: Comparison
    filters: Filters
    tasks: list[str]
    slices: list[str]
    kind_counts: dict[str, int]
    tables: dict[str, Table]
    pairs: list[SidePair]  # the first SHOWN samples the filters keep
    fingerprint: dict[str, tuple[object, object]]

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS

    def query(self, **changes: str | None) -> str:
        """This page's parameters (the runs by id, the filters), with `changes`, as a query string."""
        chosen = {"old": self.comparison.old.id, "new": self.comparison.new.id, "task": self.filters.task,
                  "slice": self.filters.slice, "kind": self.filters.kind, **changes}
        return urlencode({k: v for k, v in chosen.items() if v})

    def figure(self) -> str:
        c = self.comparison
        return embedded(outcome_figure(self.tables["outcomes"]), file_name(f"outcomes-{c.old.id}-{c.new.id}"))


@dataclass(frozen=True)
class Chooser:
    """The two run pickers: the newest runs (and the two chosen, where they are older), and what is chosen."""

    runs: list[RunRecord]
    old: str
    new: str


def compare_link(old: str, new: str) -> str:
    return "/compare?" + urlencode({"old": old, "new": new})


def compare_view(store: Store, old: str, new: str, filters: Filters = Filters()) -> CompareView:
    """`old` against `new` (run ids, id prefixes, names or registry aliases, as `undrift.compare` takes them),
    filtered."""
    comparison = compare(old, new, db=store)
    tasks = [g.task for g in comparison.tasks]
    slices = sorted({g.slice for g in comparison.slices if g.slice and filters.task in (None, g.task)})
    _check(filters, tasks, sorted({g.slice for g in comparison.slices if g.slice}))
    in_scope = [f for f in _samples(comparison) if Filters(filters.task, filters.slice).keeps_sample(f)]
    counts = {kind: sum(f.kind == kind for f in in_scope) for kind in KINDS}
    kept = [f for f in in_scope if filters.kind in (None, f.kind)]
    tables = _tables(comparison, filters, kept)
    pairs = [SidePair(f, word_diff(f.old_response, f.new_response)) for f in kept[:SHOWN]]
    return CompareView(comparison, filters, tasks, slices, counts, tables, pairs, fingerprint_differences(comparison))


def _check(filters: Filters, tasks: list[str], slices: list[str]) -> None:
    if filters.task is not None and filters.task not in tasks:
        raise UndriftError(f"the comparison has no task {filters.task!r}: its tasks are {', '.join(tasks)}")
    if filters.slice is not None and filters.slice not in slices:
        having = ", ".join(slices) if slices else "none (its samples have no slice tags)"
        raise UndriftError(f"the comparison has no slice {filters.slice!r}: its slices are {having}")
    if filters.kind is not None and filters.kind not in KINDS:
        raise UndriftError(f"no kind of flip {filters.kind!r}: choose one of {', '.join(KINDS)}")


def _samples(comparison: Comparison) -> list[Flip]:
    """Negative flips first, then positive ones, then answers that changed without flipping."""
    return sorted(comparison.flips, key=lambda f: f.kind != "negative") + comparison.changed


def _tables(comparison: Comparison, filters: Filters, kept: list[Flip]) -> dict[str, Table]:
    task_groups = [g for g in comparison.tasks if filters.task in (None, g.task)]
    slice_groups = [g for g in comparison.slices if filters.keeps(g)]
    # compatibility and outcomes: per task, or per slice where one slice is chosen
    groups = slice_groups if filters.slice else task_groups
    tables = [Table("metrics", "Metrics by task", ("task", *METRIC_COLUMNS), _metric_rows(task_groups))]
    if comparison.slices:
        tables.append(Table("slices", "Metrics by slice", ("task", "slice", *METRIC_COLUMNS),
                            _metric_rows(slice_groups, with_slice=True), empty="no samples in this slice"))
    tables += [
        Table("compatibility", "Compatibility: NFR, PFR, BTC, BEC", COMPATIBILITY_COLUMNS,
              [_compatibility_row(g, comparison.tolerance) for g in groups]),
        Table("outcomes", "Which samples each version got right", OUTCOME_COLUMNS,
              [_outcome_row(g, comparison.flips) for g in groups]),
        Table("samples", "Flipped and changed samples", SAMPLE_COLUMNS, [_sample_row(f) for f in kept],
              empty="no sample flipped or changed its answer here"),
    ]
    return {t.name: t for t in tables}


METRIC_COLUMNS = ("n", "metric", "old", "old 95% CI", "new", "new 95% CI", "change", "change 95% CI", "p",
                  "q (BH)", "verdict")
COMPATIBILITY_COLUMNS = ("where", "n", "negative flips", "positive flips", "NFR", "NFR 95% CI", "PFR", "PFR 95% CI",
                         "BTC", "BEC", "inconsistency", "mismatch", "note")
OUTCOME_COLUMNS = ("where", "n", "regress", "common", "progress", "both wrong")
SAMPLE_COLUMNS = ("kind", "task", "sample", "slices", "prompt", "target", "old answer", "new answer",
                  "old extracted", "new extracted", "old value", "new value")


def _metric_rows(groups: list[GroupComparison], with_slice: bool = False) -> list[tuple]:
    rows = []
    for group in groups:
        where = (group.task, group.slice) if with_slice else (group.task,)
        for metric in group.metrics.values():
            rows.append((*where, metric.n, metric.label, rounded(metric.old), _interval(metric.old_ci),
                         rounded(metric.new), _interval(metric.new_ci), rounded(metric.delta), _interval(metric.ci),
                         significant(metric.p), significant(metric.p_adjusted), _verdict(metric)))
    return rows


def _verdict(metric: MetricChange) -> Cell | str:
    if metric.verdict:
        return Cell(metric.verdict, state=VERDICT_STATE[metric.verdict])
    return metric.note or ("no significant change" if metric.tested else "not tested")


def _compatibility_row(group: GroupComparison, tolerance: float) -> tuple:
    c = group.compatibility
    if c is None:  # no one right/wrong verdict per sample: flips of the score difference
        flips = group.score_flips
        return (group.where, group.n, None, None, rounded(flips.negative), None, rounded(flips.positive), None, None,
                None, None, rounded(group.mismatch), f"no right/wrong verdict: score flips beyond ±{tolerance:g}")
    return (group.where, c.n, c.negative_flips, c.positive_flips, rounded(c.nfr), _interval(c.nfr_ci), rounded(c.pfr),
            _interval(c.pfr_ci), rounded(c.btc), rounded(c.bec), rounded(c.inconsistency), rounded(group.mismatch), "")


def _outcome_row(group: GroupComparison, flips: list[Flip]) -> tuple:
    """Regress (right before, wrong now), common (right in both), progress (wrong before, right now), both wrong.
    Without a right/wrong verdict, regress and progress count the score flips and the rest is not known."""
    c = group.compatibility
    if c is not None:
        return group.where, c.n, c.negative_flips, c.both_right, c.positive_flips, c.both_wrong
    mine = [f for f in flips if f.task == group.task and (group.slice is None or group.slice in f.slices)]
    return (group.where, group.n, sum(f.kind == "negative" for f in mine), None,
            sum(f.kind == "positive" for f in mine), None)


def _sample_row(flip: Flip) -> tuple:
    return (flip.kind, flip.task, flip.sample_id, ", ".join(flip.slices), flip.prompt, _text(flip.target),
            flip.old_response, flip.new_response, flip.old_extracted, flip.new_extracted, rounded(flip.old_value),
            rounded(flip.new_value))


def outcome_figure(outcomes: Table) -> go.Figure:
    """Per task (or slice), how many samples regressed, stayed right, progressed, stayed wrong: stacked bars."""
    where = [label(row[0]) for row in outcomes.rows]
    figure = go.Figure()
    for name, colour in OUTCOMES:
        column = outcomes.columns.index(name)
        counts = [row[column] or 0 for row in outcomes.rows]
        figure.add_trace(go.Bar(y=where, x=counts, name=name, orientation="h", marker={"color": colour},
                                hovertemplate=f"{name}: %{{x}}<extra></extra>"))
    figure.update_layout(template="plotly_white", barmode="stack", height=120 + 40 * len(where),
                         margin={"l": 160, "r": 20, "t": 20, "b": 40}, xaxis_title="samples",
                         legend={"orientation": "h", "y": -0.35, "traceorder": "normal"},
                         yaxis={"autorange": "reversed", "type": "category"})
    return figure


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def chooser(store: Store, old: str, new: str, view: CompareView | None) -> Chooser:
    """The newest runs to pick from; the chosen ones by id where a comparison resolved them, kept in the list."""
    offered = runs(limit=CHOICES, db=store)
    if view is not None:
        chosen = (view.comparison.old, view.comparison.new)
        offered += [r for r in chosen if r.id not in {o.id for o in offered}]
        old, new = chosen[0].id, chosen[1].id
    elif not (old or new) and len(offered) >= 2:
        old, new = offered[1].id, offered[0].id  # a first look: the newest run against the one before it
    return Chooser(offered, old, new)


def run_label(record: RunRecord) -> str:
    return f"{record.name} · {record.suite} · {when(record.created_at)} · {record.id}"


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    def filters(task: str, slice_: str, kind: str) -> Filters:
        return Filters(task or None, slice_ or None, kind or None)

    @router.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request, old: str = "", new: str = "", task: str = "", slice: str = "",
                     kind: str = "") -> HTMLResponse:
        view, problem = None, None
        if old or new:
            try:
                if not (old and new):
                    raise UndriftError("pick two runs: an old one and a new one (ids, id prefixes, names or aliases)")
                view = compare_view(site.store, old, new, filters(task, slice, kind))
            except UndriftError as refused:  # the pickers stay, with the reason, so another pair can be chosen
                problem = str(refused)
        return site.page(request, "compare.html", 400 if problem else 200, view=view, problem=problem,
                         chooser=chooser(site.store, old, new, view), run_label=run_label)

    @router.get("/compare/{table}.csv")
    def compare_csv(table: str, old: str = "", new: str = "", task: str = "", slice: str = "",
                    kind: str = "") -> Response:
        if not (old and new):
            raise UndriftError(f"the download needs two runs: /compare/{table}.csv?old=RUN&new=RUN")
        return csv_response(named(compare_view(site.store, old, new, filters(task, slice, kind)).tables, table))

    return router
