"""HTTP request metrics for the Flask app, via prometheus-flask-exporter.

Requests are grouped by URL rule (`/api/queues/<queue>`), never by path: task IDs and queue
names in paths would otherwise create one time series per task.
"""

from __future__ import annotations

from flask import Flask, Request
from prometheus_client import CollectorRegistry
from prometheus_flask_exporter import PrometheusMetrics

# Label value for requests that matched no route (404s), so scanners cannot add series.
UNMATCHED_RULE = "<unmatched>"


def url_rule(request: Request) -> str:
    """The `url_rule` label: the route pattern the request matched."""
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED_RULE


def init_request_metrics(app: Flask, registry: CollectorRegistry) -> PrometheusMetrics:
    """Track every request of `app` into `registry`.

    Exports `flask_http_request_duration_seconds{method,url_rule,status}` (histogram),
    `flask_http_request_total{method,status}`, `flask_http_request_exceptions_total` and
    `flask_exporter_info`. The exporter mounts no route of its own (path=None): the ops
    blueprint serves `/metrics` with the token check.
    """
    metrics = PrometheusMetrics.for_app_factory(
        path=None, registry=registry, group_by=url_rule,
    )
    metrics.init_app(app)
    return metrics
