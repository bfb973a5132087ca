"""Property-based fuzzing of every documented route from the server's own /openapi.json.

Schemathesis generates valid and invalid requests from the OpenAPI document and sends them to
the real Flask app (WSGI) on real Redis and SQLite. Each answer must keep the contract that
holds for every route (http-api.md sections 1 and 3): no 500, errors in the one envelope with a
documented code, `X-Request-ID` always, `Cache-Control: no-store` on JSON. Bounded and
derandomized so it stays a few seconds per run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from runqy.web.serving import make_server
from tests.server.conftest import ADMIN, VAULT_KEY, configure
from tests.support.waitress_thread import ServingThread

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# http-api.md section 3, the whole table.
DOCUMENTED_CODES = {
    "invalid_json", "invalid_request", "invalid_queue_name", "unauthorized", "forbidden",
    "read_only", "not_found", "queue_not_found", "task_not_found", "worker_not_found",
    "queue_config_not_found", "vault_not_found", "vault_entry_not_found", "method_not_allowed",
    "wait_timeout", "task_id_conflict", "duplicate_task", "task_state_conflict",
    "queue_not_empty", "queue_busy", "queue_config_exists", "vault_exists", "vault_in_use",
    "vault_missing", "config_dir_unset", "payload_too_large", "batch_too_large",
    "schema_validation_failed", "invalid_config", "too_many_waiters", "internal_error",
    "redis_unavailable", "database_unavailable", "vaults_disabled", "vaults_unavailable",
}


@pytest.fixture()
def fuzz_app(make_app) -> Any:
    app = make_app(vault_master_key=VAULT_KEY)
    client = app.test_client()
    configure(client, "imgs")
    client.post("/api/vaults", headers=ADMIN, json={"name": "hf"})
    client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", "data": 1, "task_id": "t1"})
    return app


def header(response: Any, name: str) -> str | None:
    """A header of a schemathesis response (lower-cased names, lists of values)."""
    values = response.headers.get(name.lower())
    return values[0] if values else None


def assert_contract_answer(response: Any) -> None:
    """The rules every JSON answer keeps, whatever the input."""
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:300]}"
    assert header(response, "X-Request-ID"), "X-Request-ID missing"
    if (header(response, "Content-Type") or "").startswith("application/json"):
        assert header(response, "Cache-Control") == "no-store"
        body = json.loads(response.text)
        if status >= 400:
            assert isinstance(body, dict) and set(body) >= {"errors", "code"}, body
            assert body["code"] in DOCUMENTED_CODES, body
            assert isinstance(body["errors"], list) and body["errors"], body
            assert all(isinstance(m, str) for m in body["errors"]), body


# Values that name the objects `fuzz_app` created, so generated requests also reach the code
# behind the 404s (a configured queue, an existing task, a vault).
KNOWN_PATH_VALUES = {"queue": "imgs.default", "name": "imgs", "sub": "default", "task_id": "t1",
                     "vault": "hf", "key": "TOKEN"}


def steer(pair: tuple[Any, bool]) -> Any:
    """Half of the cases: point path parameters and a body's `queue` at existing objects."""
    case, known = pair
    if known:
        for name in list(case.path_parameters or {}):
            if name in KNOWN_PATH_VALUES:
                case.path_parameters[name] = KNOWN_PATH_VALUES[name]
        if isinstance(case.body, dict) and "queue" in case.body:
            case.body["queue"] = "imgs"
    return case


def _run_order(operation: Any) -> int:
    """Client routes first and destructive ones last, so that most cases still find the
    configured queue, task and vault that the routes in between may change or remove."""
    method, path = operation.method.upper(), operation.path
    if path.startswith(("/queue/", "/worker/")):
        return 0
    if method == "GET":
        return 1
    if method == "DELETE" or path.endswith(("/restore", "/tasks/all")):
        return 3
    return 2


def fuzz_operations(app: Any, send: Callable[[Any], Any], max_examples: int) -> list[str]:
    """Run `send` on generated cases for every documented operation; returns the failures."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=_run_order)
    for operation in operations:
        if operation.path == "/metrics":
            continue  # Prometheus text, not a JSON route

        @given(case=st.tuples(operation.as_strategy(), st.booleans()).map(steer))
        @settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def run(case: Any) -> None:
            if case.query:
                case.query.pop("wait", None)  # a long-poll would spend the budget waiting
            send(case)

        try:
            run()
        except AssertionError as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


def test_every_route_keeps_the_error_contract(fuzz_app) -> None:
    def send(case: Any) -> None:
        assert_contract_answer(case.call(headers=ADMIN))

    failures = fuzz_operations(fuzz_app, send, max_examples=12)
    assert not failures, "\n".join(failures)


def test_every_route_without_a_valid_key_keeps_the_error_contract(fuzz_app) -> None:
    def send(case: Any) -> None:
        response = case.call(headers={"Authorization": "Bearer wrong-key-0123456789"})
        assert_contract_answer(response)
        # A generated path parameter holding "/" matches no route at all (404 not_found);
        # every request that reaches a secured route is refused before anything else.
        no_route = response.status_code == 404 and '"not_found"' in response.text
        if case.operation.definition.raw.get("security") and not no_route:
            assert response.status_code == 401, response.text[:200]

    failures = fuzz_operations(fuzz_app, send, max_examples=3)
    assert not failures, "\n".join(failures)


def test_add_batch_accepts_every_body_its_document_allows(fuzz_app) -> None:
    # The document must not allow what the handler refuses: a body valid by /openapi.json is
    # wrong only in its jobs, which add-batch reports per index in a 200 (http-api.md 5.3).
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    operation = schema["/queue/add-batch"]["POST"]
    refused: list[str] = []

    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    @settings(max_examples=40, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case: Any) -> None:
        case.body["queue"] = "imgs"
        response = case.call(headers=ADMIN)
        assert_contract_answer(response)
        if response.status_code != 200:
            refused.append(f"{case.body!r}: {response.text[:200]}")

    run()
    assert not refused, "\n".join(refused[:5])


@pytest.mark.timeout(240)
def test_all_checks_over_every_operation_find_nothing(fuzz_app, tmp_path) -> None:
    """Schemathesis with every check and every phase (examples, coverage, fuzzing, stateful),
    seeded and bounded, against a real waitress server: no server error, no response outside
    the document, no schema-valid request refused, no schema-invalid one accepted."""
    st = Path(sys.executable).with_name("schemathesis")
    if not st.exists():
        pytest.skip("the schemathesis command is not installed next to this interpreter")
    serving = ServingThread(make_server(fuzz_app, fuzz_app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    try:
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
               "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [str(st), "--config-file", str(HERE / "schemathesis.toml"), "--no-color", "run",
             f"{serving.base_url}/openapi.json", "--seed", "20261206",
             "--max-examples", "10", "--request-timeout", "5", "--exclude-path", "/metrics",
             "-H", f"Authorization: Bearer {ADMIN['Authorization'].split()[1]}"],
            capture_output=True, text=True, timeout=200, cwd=tmp_path, env=env)
    finally:
        serving.stop()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    assert not re.search(r"\b0 generated", report)  # "3320 generated" is fine
