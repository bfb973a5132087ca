"""The operations kit in deploy/: Prometheus config and alert rules pass promtool, the alerts'
unit tests pass, and the Grafana dashboard only queries metrics that /metrics exposes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.metrics.conftest import ADMIN_KEY, Scrape
from tests.metrics.dataset import build_known_dataset
from tests.support.prometheus import promtool_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "runqy.json"

needs_promtool = pytest.mark.skipif(promtool_binary() is None,
                                    reason="promtool not installed (Debian package prometheus)")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool_binary(), *args], cwd=DEPLOY, capture_output=True,
                          text=True, timeout=120)


@needs_promtool
def test_prometheus_config_is_valid():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


@needs_promtool
def test_alert_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_alert_fires_on_bad_series_and_not_on_healthy_ones():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {rule["alert"] for group in yaml.safe_load((DEPLOY / "alerts.yml").read_text())
              ["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in yaml.safe_load(
        (DEPLOY / "alerts_test.yml").read_text())["tests"] for case in test["alert_rule_test"]
        if case["exp_alerts"]}
    assert alerts == tested, "every alert needs a firing case in alerts_test.yml"
    assert {"RunqyQueueDepthHigh", "RunqyHighErrorRate", "RunqyHighLatency",
            "RunqyQueueStalled", "RunqyWorkerUnhealthy"} <= alerts


# PromQL words that are not metric names.
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "inf", "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)          # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                     # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                    # range and subquery windows
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[match.end():].lstrip()
        if rest.startswith("(") or match.group().lower() in _PROMQL_WORDS:
            continue  # a function call or a keyword
        if expr[max(0, match.start() - 1)] == "$":
            continue  # a Grafana variable
        names.add(match.group())
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert inner, query
            exprs.append(inner.group(1))
    return exprs


def test_metric_names_parser():
    assert metric_names('sum by (queue) (rate(asynq_tasks_processed_total{queue=~"$q"}[5m]))') \
        == {"asynq_tasks_processed_total"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m]))) / b") \
        == {"a_bucket", "b"}


def test_dashboard_queries_only_exported_metrics(make_app, redis_client):
    build_known_dataset(redis_client)
    client = make_app().test_client()
    client.get("/health")  # so the request histogram has samples
    exposed = Scrape(client.get("/metrics").get_data(as_text=True)).sample_names()
    exprs = dashboard_queries()
    assert len(exprs) >= 15
    used = set().union(*(metric_names(e) for e in exprs))
    assert used, "no metric found in the dashboard"
    assert used <= exposed, f"not exposed by /metrics: {sorted(used - exposed)}"
    assert {"asynq_tasks_processed_total", "asynq_tasks_failed_total", "asynq_queue_size",
            "asynq_queue_latency_seconds", "runqy_workers"} <= used


def test_dashboard_uses_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "runqy-overview"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_compose_stack_wires_the_pieces():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "runqy", "worker", "prometheus", "grafana"} <= set(services)
    assert services["redis"]["image"].startswith("redis:7")
    mounts = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    for path in ("./prometheus.yml", "./alerts.yml", "./grafana/provisioning",
                 "./grafana/dashboards"):
        assert path in mounts
        assert (DEPLOY / path).exists(), path
    targets = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert targets["static_configs"][0]["targets"] == ["runqy:3000"]
    assert services["runqy"]["environment"]["PROMETHEUS_ADDRESS"] == "http://prometheus:9090"
    # The image (Dockerfile) runs `runqy` as its entrypoint: commands are subcommands.
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["runqy"]' in dockerfile
    assert services["runqy"]["command"][0] == "serve"
    assert services["worker"]["command"][0] == "worker"
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_example_queue_config_loads_and_shows_in_metrics(make_app, redis_client):
    client = make_app(config_dir=DEPLOY / "example" / "queues").test_client()
    response = client.get("/api/queue-configs/demo",
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200, response.get_json()
    config = response.get_json()
    assert {s["name"]: s["priority"] for s in config["sub_queues"]} == {"high": 10, "default": 1}
    assert config["deployment"]["path"] == "/opt/runqy-demo"
    assert (DEPLOY / "example" / "demo_task" / "main.py").is_file()
    result = Scrape(client.get("/metrics").get_data(as_text=True))
    assert result.value("asynq_queue_size", queue="demo.high", state="pending") == 0
    assert result.value("asynq_queue_size", queue="demo.default", state="pending") == 0
