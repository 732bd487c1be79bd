"""The overview page: every model name (run name) and registry alias with its newest runs and state, the watches
and the open alerts; read through the public API."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import Registry, list_alerts, runs, watch_summaries
from ..monitor.alerts import Alert
from ..store import RunRecord, Store
from .compare import compare_link
from .history import history_link
from .memo import HistoryMemo, TrafficMemo
from .registry import version_link
from .site import Site, csv_response, named
from .state import State, model_state
from .tables import Cell, Table, when
from .traffic import traffic_headline

LATEST = 3  # newest runs shown per model name


@dataclass(frozen=True)
class ModelRow:
    name: str
    state: State
    aliases: list[str]
    latest: list[RunRecord]  # newest first


@dataclass(frozen=True)
class Overview:
    models: list[ModelRow]
    aliases: dict[str, str]  # alias -> version
    tables: dict[str, Table]


def overview(store: Store, memo: HistoryMemo, traffic: TrafficMemo) -> Overview:
    every = runs(limit=None, db=store)  # newest first
    by_name: dict[str, list[RunRecord]] = {}
    for record in every:
        by_name.setdefault(record.name, []).append(record)
    open_alerts = list_alerts(open_only=True, limit=1000, db=store)
    registry = Registry(store)
    aliases = registry.aliases()
    models = [ModelRow(name, model_state(records[0], memo.maybe(name, records),
                                         sum(a.watch == name for a in open_alerts)),
                       sorted(a for a, v in aliases.items() if v == name), records[:LATEST])
              for name, records in by_name.items()]
    tables = _tables(models, aliases, store, open_alerts)
    headline = traffic_headline(store, traffic)  # only where the proxy records
    return Overview(models, aliases, tables | ({headline.name: headline} if headline else {}))


def _tables(models: list[ModelRow], aliases: dict[str, str], store: Store, open_alerts) -> dict[str, Table]:
    states = {m.name: m for m in models}
    model_table = Table("models", "Models", ("state", "model", "why", "aliases", "newest run", "suite", "status",
                                             "when", "earlier runs"),
                        [(Cell(m.state.colour, state=m.state.colour), Cell(m.name, href=history_link(m.name)),
                          m.state.reason, ", ".join(m.aliases), m.latest[0].id, m.latest[0].suite, m.latest[0].status,
                          when(m.latest[0].created_at), " ".join(f"{r.id} ({r.status})" for r in m.latest[1:]))
                         for m in models], empty="no runs in this store yet: `undrift run` makes one")
    alias_rows = []
    for alias, version in sorted(aliases.items()):
        row = states.get(version)
        alias_rows.append((Cell(alias, href=version_link(alias)), Cell(version, href=history_link(version)) if row else version,
                           Cell(row.state.colour, state=row.state.colour) if row else "no runs",
                           row.latest[0].id if row else "", when(row.latest[0].created_at) if row else ""))
    alias_table = Table("aliases", "Registry aliases", ("alias", "version", "state", "newest run", "when"),
                        alias_rows, empty="no aliases: `undrift registry promote` sets one")
    watch_table = Table("watches", "Watches", ("watch", "model", "suite", "every", "last tick", "tick status",
                                               "decision", "open alerts", "next due"),
                        [(w.watch.name, w.watch.model_spec, w.watch.suite, w.watch.schedule,
                          when(w.last_tick.started_at) if w.last_tick else "never",
                          w.last_tick.status if w.last_tick else "", (w.last_tick.check_decision or "")
                          if w.last_tick else "", w.open_alerts, when(w.watch.next_due_at))
                         for w in watch_summaries(db=store)], empty="no watches: `undrift watch add` sets one")
    alert_table = Table("alerts", "Open alerts", ("alert", "watch", "kind", "opened", "summary", "compare"),
                        [(a.id, a.watch, a.kind, when(a.opened_at), a.summary, _compared(a)) for a in open_alerts],
                        empty="no open alerts")
    return {t.name: t for t in (model_table, alias_table, watch_table, alert_table)}


def _compared(alert: Alert) -> Cell | None:
    """A link to the comparison that opened the alert: its payload names the baseline and the full run."""
    old, new = alert.payload.get("baseline_run"), alert.payload.get("full_run")
    return Cell(f"{old} → {new}", href=compare_link(old, new)) if old and new else None


def routes(site: Site) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> HTMLResponse:
        return site.page(request, "overview.html", view=overview(site.store, site.memo, site.traffic))

    @router.get("/overview/{table}.csv")
    def overview_csv(table: str) -> Response:
        return csv_response(named(overview(site.store, site.memo, site.traffic).tables, table))

    return router
