"""HTTP request metrics for the Flask app, with prometheus-client directly.

Requests are grouped by URL rule (`/api/queues/<queue>`), never by path: task IDs and queue
names in paths would otherwise create one time series per task. The metric names and labels
are those prometheus-flask-exporter used (the deploy/ Grafana dashboard queries them); doing
the bookkeeping here costs a few microseconds per request instead of the exporter's ~90 µs,
which matters on the enqueue hot path.
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from flask import Flask, Request, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram

# Label value for requests that matched no route (404s), so scanners cannot add series.
UNMATCHED_RULE = "<unmatched>"
STARTED = "runqy.metrics_started"  # WSGI environ key: when the request began
# WSGI environ key set by a view whose answer is never sent (a parked long-poll runs again
# later): that run is neither counted nor timed, nor written to the access log.
UNSENT = "runqy.unsent"


def url_rule(request: Request) -> str:
    """The `url_rule` label: the route pattern the request matched."""
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED_RULE


class RequestMetrics:
    """The request metric families of one app, with their labelled children cached.

    `labels()` takes a lock and builds a key on every call; the children for the handful of
    (method, rule, status) combinations an app sees are kept in plain dicts instead.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "flask_http_request_duration_seconds", "Flask HTTP request duration in seconds",
            ("method", "url_rule", "status"), registry=registry)
        self.total = Counter(
            "flask_http_request_total", "Total number of HTTP requests",
            ("method", "status"), registry=registry)
        self.exceptions = Counter(
            "flask_http_request_exceptions_total",
            "Total number of HTTP requests which resulted in an exception",
            ("method", "status"), registry=registry)
        self._durations: dict[tuple[str, str, int], Any] = {}
        self._totals: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def observe(self, method: str, rule: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        duration = self._durations.get((method, rule, status))
        total = self._totals.get((method, status))
        if duration is None or total is None:
            with self._lock:
                duration = self.duration.labels(method, rule, str(status))
                total = self.total.labels(method, str(status))
                self._durations[(method, rule, status)] = duration
                self._totals[(method, status)] = total
        duration.observe(seconds)
        total.inc()


def init_request_metrics(app: Flask, registry: CollectorRegistry) -> RequestMetrics:
    """Track every request of `app` into `registry`.

    Exports `flask_http_request_duration_seconds{method,url_rule,status}` (histogram with the
    client's default buckets), `flask_http_request_total{method,status}` and
    `flask_http_request_exceptions_total{method,status}` (exceptions no error handler turned
    into a response). No route is mounted: the ops blueprint serves `/metrics` with the token
    check.
    """
    metrics = RequestMetrics(registry)

    @app.before_request
    def _start() -> None:
        # A request the lean path (runqy.web.lean_routes) hands on has its start already.
        request.environ.setdefault(STARTED, perf_counter())

    @app.after_request
    def _observe(response: Response) -> Response:
        started = request.environ.get(STARTED)
        if started is not None and not request.environ.get(UNSENT):
            metrics.observe(request.method, url_rule(request), response.status_code,
                            max(perf_counter() - started, 0.0))
        return response

    @app.teardown_request
    def _exception(exc: BaseException | None) -> None:
        if exc is not None:
            metrics.exceptions.labels(request.method, "500").inc()

    return metrics
