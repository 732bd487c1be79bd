"""The proxy's Prometheus metrics, served at its own `/metrics`.

Each proxy keeps its metrics in a `CollectorRegistry` of its own, not the process-wide default, so two proxies (or a
proxy and the watch daemon, or tests) in one process never clash.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
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
        self.written = Counter("undrift_proxy_records_written", "Traffic records written to the store",
                               registry=self.registry)
        self.dropped = Counter("undrift_proxy_records_dropped", "Traffic records lost: the queue was full or the "
                               "store failed", registry=self.registry)
        self.queue_depth = Gauge("undrift_proxy_queue_depth", "Records waiting for the writer", registry=self.registry)


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
