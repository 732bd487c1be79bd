"""Prometheus metrics of the watch daemon: ticks by watch and status, their duration and cost, open alerts.

A registry of its own (not prometheus-client's global one), so that tests and embedding programs can hold several.
Open alerts are read from the store at each scrape, so the figure covers every daemon that shares the store; a store
that cannot be read then gives NaN, never a failed scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..store import Store
from .alerts import count_open_alerts
from .tick import TickOutcome


class DaemonMetrics:
    def __init__(self, store: Store):
        self.registry = CollectorRegistry()
        self.ticks = Counter("undrift_watch_ticks", "ticks of watches", ["watch", "status"], registry=self.registry)
        self.calls = Counter("undrift_watch_calls", "model calls spent by ticks", ["watch"], registry=self.registry)
        self.tokens = Counter("undrift_watch_tokens", "tokens spent by ticks", ["watch", "direction"],
                              registry=self.registry)
        self.duration = Histogram("undrift_watch_tick_seconds", "duration of a tick", ["watch"],
                                  buckets=(1, 5, 15, 60, 300, 900, 3600, float("inf")), registry=self.registry)
        self.open_alerts = Gauge("undrift_open_alerts", "alerts open in the store", registry=self.registry)
        self.open_alerts.set_function(lambda: self._open_alerts(store))

    @staticmethod
    def _open_alerts(store: Store) -> float:
        try:
            return float(count_open_alerts(store))
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is away
            return float("nan")

    def observe(self, outcome: TickOutcome) -> None:
        tick = outcome.tick
        self.ticks.labels(tick.watch, tick.status).inc()
        self.calls.labels(tick.watch).inc(tick.calls)
        self.tokens.labels(tick.watch, "in").inc(tick.tokens_in)
        self.tokens.labels(tick.watch, "out").inc(tick.tokens_out)
        if tick.finished_at is not None:
            self.duration.labels(tick.watch).observe((tick.finished_at - tick.started_at).total_seconds())

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
