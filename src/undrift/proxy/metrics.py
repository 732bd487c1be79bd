"""The proxy's Prometheus metrics, served at its own `/metrics`.

Each proxy keeps its metrics in a `CollectorRegistry` of its own, not the process-wide default, so two proxies (or a
proxy and the watch daemon, or tests) in one process never clash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

# From a cached answer (a few ms) to a long generation (minutes).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("undrift_proxy_requests", "Requests answered, by HTTP status", ["status"],
                                registry=self.registry)
        self.upstream_errors = Counter("undrift_proxy_upstream_errors", "Upstream failures: refused, timeout, "
                                       "broken (a protocol error or a stream cut short)", ["kind"],
                                       registry=self.registry)
        self.latency = Histogram("undrift_proxy_request_duration_seconds", "Time from a request's arrival to its "
                                 "last response byte", buckets=LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("undrift_proxy_time_to_first_token_seconds", "Time to the first token of streamed "
                              "answers", buckets=LATENCY_BUCKETS, registry=self.registry)
        self.recording = Recording()
        self.registry.register(self.recording)


class Recording(Collector):
    """The recorder's counts, kept where the writer process and the proxy can both reach them, read at each scrape;
    zeros until a recorder is attached (`totals`)."""

    def __init__(self) -> None:
        self.totals: Callable[[], tuple[int, int, int]] = lambda: (0, 0, 0)

    def collect(self) -> Iterable[Metric]:
        written, dropped, in_flight = self.totals()
        yield CounterMetricFamily("undrift_proxy_records_written", "Traffic records written to the store",
                                  value=written)
        yield CounterMetricFamily("undrift_proxy_records_dropped", "Traffic records lost: too many in flight to the "
                                  "writer, the store failed, or the writer process died", value=dropped)
        yield GaugeMetricFamily("undrift_proxy_queue_depth", "Records on their way to the store: sent to the writer "
                                "process, not yet written or dropped", value=in_flight)


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
