"""Throwaway Prometheus servers for tests: the real binary, a temp config and TSDB, loopback only.

`PrometheusServer(targets=["127.0.0.1:5000"]).start()` scrapes those targets every second;
`.url` is its API base; `.wait_for_query(promql, predicate)` polls until a query answers as
expected. Tests skip when the binary is missing (`prometheus_binary()` / `promtool_binary()`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from tests.support.polling import poll_until
from tests.support.redis_server import free_port, stop_process


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def promtool_binary() -> str | None:
    return shutil.which("promtool")


class PrometheusServer:
    """One prometheus child process scraping `targets` (host:port) at `metrics_path`."""

    def __init__(self, targets: Sequence[str], *, metrics_path: str = "/metrics",
                 scrape_interval: str = "1s", bearer_token: str | None = None,
                 binary: str | None = None) -> None:
        self.binary = binary or prometheus_binary()
        if self.binary is None:
            raise FileNotFoundError("prometheus binary not found on PATH")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="runqy-test-prometheus-"))
        job: dict = {
            "job_name": "runqy",
            "metrics_path": metrics_path,
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "static_configs": [{"targets": list(targets)}],
        }
        if bearer_token is not None:
            job["authorization"] = {"type": "Bearer", "credentials": bearer_token}
        self.config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [job],
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        config_path = self.dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config))
        self.log_path = self.dir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log, stderr=subprocess.STDOUT,
            )
        poll_until(self._ready, timeout=timeout, what=f"prometheus on port {self.port} ready",
                   alive=self.process)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def query(self, promql: str) -> list[dict]:
        """Instant query through the HTTP API; the `result` list."""
        params = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=5) as resp:  # noqa: S310
            payload = json.load(resp)
        assert payload["status"] == "success", payload
        return payload["data"]["result"]

    def targets(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as resp:  # noqa: S310
            return json.load(resp)["data"]["activeTargets"]

    def wait_for_query(self, promql: str, predicate: Callable[[list[dict]], bool],
                       timeout: float = 60.0) -> list[dict]:
        """Poll `promql` until `predicate(result)` holds; the last result."""
        box: list[list[dict]] = []

        def check() -> bool:
            box[:] = [self.query(promql)]
            return predicate(box[0])

        poll_until(check, timeout=timeout, what=f"{promql!r} to match",
                   detail=lambda: f"last result: {box[0] if box else None}",
                   alive=self.process)
        return box[0]

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

