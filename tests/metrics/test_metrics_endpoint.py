"""GET /metrics on a real app and real Redis: every family, label and value of a known data set."""

from __future__ import annotations

import socket

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from runqy import __version__
from runqy.metrics.collector import ENQUEUED_STATES, SIZE_STATES, WORKER_STATUSES
from tests.metrics.conftest import Scrape
from tests.metrics.dataset import BROKEN, OLDEST_PENDING_AGE, build_known_dataset

# Name, type and help text of asynq's exporter (x/metrics), which asynqmon and Grafana
# dashboards expect. Counter families are listed without `_total`, as the parser names them.
ASYNQ_FAMILIES = {
    "asynq_tasks_enqueued_total": (
        "gauge", ("queue", "state"), "Number of tasks enqueued; broken down by queue and state."),
    "asynq_queue_latency_seconds": (
        "gauge", ("queue",),
        "Number of seconds the oldest pending task is waiting in pending state to be processed."),
    "asynq_queue_memory_usage_approx_bytes": (
        "gauge", ("queue",),
        "Number of memory used by a given queue (approximated number by sampling)."),
    "asynq_tasks_processed": (
        "counter", ("queue",),
        "Number of tasks processed (both succeeded and failed); broken down by queue"),
    "asynq_tasks_failed": ("counter", ("queue",), "Number of tasks failed; broken down by queue"),
    "asynq_queue_paused_total": ("gauge", ("queue",), "Number of queues paused"),
}


def scrape(client, **headers: str) -> Scrape:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return Scrape(response.get_data(as_text=True))


@pytest.fixture()
def dataset(redis_client):
    return build_known_dataset(redis_client)


def test_asynq_families_match_asynq_exporter(make_app, dataset):
    result = scrape(make_app().test_client())
    for name, (kind, labels, help_text) in ASYNQ_FAMILIES.items():
        family = result.family(name)
        assert (family.type, family.documentation) == (kind, help_text), name
        assert family.samples, f"{name} has no samples"
        for sample in family.samples:
            assert tuple(sorted(sample.labels)) == tuple(sorted(labels)), sample
    size = result.family("asynq_queue_size")
    assert size.type == "gauge"
    assert {tuple(sorted(s.labels)) for s in size.samples} == {("queue", "state")}


def test_queue_values_for_known_dataset(make_app, dataset):
    result = scrape(make_app().test_client())
    for queue, counts in dataset.queues.items():
        for state in SIZE_STATES:
            assert result.value("asynq_queue_size", queue=queue, state=state) == \
                counts.state(state), (queue, state)
        for state in ENQUEUED_STATES:
            assert result.value("asynq_tasks_enqueued_total", queue=queue, state=state) == \
                counts.state(state), (queue, state)
        assert result.value("asynq_tasks_processed_total", queue=queue) == counts.processed_total
        assert result.value("asynq_tasks_failed_total", queue=queue) == counts.failed_total
        assert result.value("asynq_queue_paused_total", queue=queue) == int(counts.paused)
        assert result.value("asynq_queue_memory_usage_approx_bytes", queue=queue) > 0
    # Exactly the six asynq states in the enqueued family, seven in the size family.
    alpha = next(iter(dataset.queues))
    assert {dict(k)["state"] for k in result.values("asynq_tasks_enqueued_total")
            if dict(k)["queue"] == alpha} == set(ENQUEUED_STATES)
    assert {dict(k)["state"] for k in result.values("asynq_queue_size")
            if dict(k)["queue"] == alpha} == set(SIZE_STATES)

    latency = result.value("asynq_queue_latency_seconds", queue=alpha)
    assert OLDEST_PENDING_AGE <= latency < OLDEST_PENDING_AGE + 30


def test_unreadable_queue_is_left_out_and_counted(make_app, dataset):
    client = make_app().test_client()
    first = scrape(client)
    queues = {dict(k)["queue"] for k in first.values("asynq_queue_size")}
    assert queues == set(dataset.queues)
    assert BROKEN not in first.text
    assert first.family("runqy_metrics_errors").type == "counter"
    assert first.value("runqy_metrics_errors_total") == 1
    assert scrape(client).value("runqy_metrics_errors_total") == 2


def test_workers_by_status(make_app, dataset):
    result = scrape(make_app().test_client())
    family = result.family("runqy_workers")
    assert family.type == "gauge"
    assert {dict(k)["status"]: v for k, v in result.values("runqy_workers").items()} == \
        {status: dataset.workers.get(status, 0) for status in WORKER_STATUSES}


def test_every_worker_status_is_exported_with_no_workers(make_app, redis_client):
    result = scrape(make_app().test_client())
    assert {dict(k)["status"]: v for k, v in result.values("runqy_workers").items()} == \
        dict.fromkeys(WORKER_STATUSES, 0)
    assert result.values("asynq_queue_size") == {}
    assert result.value("runqy_metrics_errors_total") == 0


def test_build_info_and_process_metrics(make_app, redis_client):
    result = scrape(make_app().test_client())
    assert result.value("runqy_build_info", version=__version__) == 1
    assert result.value("process_resident_memory_bytes") > 0
    assert result.value("process_cpu_seconds_total") >= 0
    assert "python_info" in result.families


def test_totals_come_from_redis_and_survive_a_server_restart(make_app, dataset):
    before = scrape(make_app().test_client())
    restarted = scrape(make_app().test_client())  # a new app: nothing kept in memory
    for name in ("asynq_tasks_processed_total", "asynq_tasks_failed_total"):
        assert restarted.values(name) == before.values(name)
        assert any(restarted.values(name).values())


def test_each_scrape_reads_redis_again(make_app, redis_client):
    from runqy.broker import Broker
    from tests.metrics.dataset import fill_queue

    client = make_app().test_client()
    fill_queue(Broker(redis_client), "live.default", pending=1)
    assert scrape(client).value("asynq_queue_size", queue="live.default", state="pending") == 1
    fill_queue(Broker(redis_client), "live.default", pending=2)
    assert scrape(client).value("asynq_queue_size", queue="live.default", state="pending") == 3


def test_openmetrics_on_request(make_app, dataset):
    response = make_app().test_client().get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.mimetype == "application/openmetrics-text"
    families = {f.name: f for f in parse_openmetrics(response.get_data(as_text=True))}
    assert families["asynq_tasks_processed"].type == "counter"


def test_request_metrics_grouped_by_route(make_app, redis_client):
    client = make_app().test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/no/such/page-1234").status_code == 404
    result = scrape(client)
    counts = result.values("flask_http_request_duration_seconds_count")
    assert counts[frozenset({"method": "GET", "url_rule": "/health", "status": "200"}.items())] \
        == 1
    assert counts[frozenset({"method": "GET", "url_rule": "<unmatched>",
                             "status": "404"}.items())] == 1
    assert "page-1234" not in result.text
    assert result.value("flask_http_request_total", method="GET", status="200") >= 1


def test_request_metrics_count_every_request_of_each_route_and_status(make_app, redis_client):
    client = make_app().test_client()
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert client.delete("/health").status_code == 405
    result = scrape(client)  # the scrape itself is counted after its answer is built
    counts = result.values("flask_http_request_duration_seconds_count")
    assert counts[frozenset({"method": "GET", "url_rule": "/health", "status": "200"}.items())] \
        == 3
    assert counts[frozenset({"method": "DELETE", "url_rule": "<unmatched>",
                             "status": "405"}.items())] == 1
    assert result.value("flask_http_request_total", method="GET", status="200") == 3
    assert result.value("flask_http_request_total", method="DELETE", status="405") == 1
    assert result.value("flask_http_request_duration_seconds_sum", method="GET",
                        url_rule="/health", status="200") > 0
    assert scrape(client).value("flask_http_request_total", method="GET", status="200") == 4


def test_token_protects_metrics(make_app, redis_client):
    client = make_app(metrics_token="s3cret-metrics-token").test_client()
    refused = ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics-token"})
    for headers in refused:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["code"] == "unauthorized"
    assert "runqy_build_info" in scrape(
        client, Authorization="Bearer s3cret-metrics-token").families


def test_metrics_stay_with_no_ui(make_app, dataset):
    client = make_app(no_ui=True).test_client()
    assert client.get("/monitoring/").status_code == 404
    assert scrape(client).value("asynq_queue_paused_total", queue="metrics.paused") == 1


def test_redis_down_still_serves_process_metrics(make_app):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    result = scrape(make_app(redis_url=dead).test_client())
    assert result.values("asynq_queue_size") == {}
    assert "runqy_workers" not in {n for n in result.families if result.families[n].samples}
    assert result.value("runqy_metrics_errors_total") == 2  # queue stats and workers
    assert result.value("process_resident_memory_bytes") > 0
