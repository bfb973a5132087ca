"""Prometheus support: the `/metrics` registry, HTTP request metrics and the Prometheus client.

- `create_registry(rt, version=...)`: a fresh registry holding the queue/worker
  collector (runqy.metrics.collector) and the standard process and Python collectors.
- `init_request_metrics(app, registry)`: request metrics for the Flask app.
- `render(registry, accept)`: the exposition body and content type for one scrape.
- runqy.metrics.prometheus_api: queries a Prometheus server for the dashboard's charts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from runqy import __version__
from runqy.core.runtime import Runtime
from runqy.metrics.collector import FAMILIES, RunqyCollector, worker_status
from runqy.metrics.http_metrics import init_request_metrics

__all__ = [
    "FAMILIES", "RunqyCollector", "create_registry", "init_request_metrics", "render",
    "worker_status",
]

def create_registry(rt: Runtime, *, version: str = __version__) -> CollectorRegistry:
    """A registry for one app: runqy families plus `process_*` and `python_*` metrics.

    Each app gets its own registry (not prometheus_client's global one), so several apps in one
    process, as in tests, do not clash.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(RunqyCollector(rt, version))
    return registry


def render(registry: CollectorRegistry, accept: str | None = None) -> tuple[bytes, str]:
    """One scrape: (body, content type), OpenMetrics when the scraper asks for it."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
