"""Malformed input to every route never gives a 500 (http-api.md section 3)."""

from __future__ import annotations

import json
import re

import pytest

from tests.server.conftest import ADMIN, VAULT_KEY, configure

BAD_BODIES: list[bytes] = [
    b"", b"{", b"null", b"[]", b"1", b'"text"', b"\xff\xfe\x00", b"{\"a\": NaN}",
    b"[" * 50_000, b'{"queue": 1e400}', b'{"queue": ' + b"9" * 5000 + b"}",
    json.dumps({"queue": None}).encode(),
    json.dumps({"queue": {"a": 1}, "data": None}).encode(),
    json.dumps({"queue": "imgs", "data": None, "timeout": None, "task_id": None}).encode(),
    json.dumps({"queue": "imgs", "jobs": [None, [], {}, {"data": None}, {"data": 1,
                                                                        "task_id": 5}]}).encode(),
    json.dumps({"queue": "imgs", "jobs": "all"}).encode(),
    json.dumps({"queue": "imgs", "data": 1, "process_at": [1], "deadline": {"a": 1}}).encode(),
    json.dumps({"queue": "imgs", "data": 1, "process_at": "2026-13-45T99:00:00Z"}).encode(),
    json.dumps({"action": [], "task_ids": [None, 1, {}], "state": 3}).encode(),
    json.dumps({"name": ["x"], "deployment": "x", "sub_queues": "y",
                "input_schema": {"a": 1}, "task_defaults": [1]}).encode(),
    json.dumps({"name": "imgs", "deployment": {"path": 1, "startup_cmd": [], "env": [],
                                               "vaults": "v", "mode": 5,
                                               "startup_timeout_secs": "x"}}).encode(),
    json.dumps({"sub_queues": [None, {"name": None}], "deployment": None}).encode(),
    json.dumps({"key": None, "value": None, "is_secret": "yes", "description": 5}).encode(),
    json.dumps({"priority": "high", "enabled": "yes"}).encode(),
    json.dumps({"description": None, "deployment": {"env": None}}).encode(),
    json.dumps({"\u0000": "\ud800"}).encode(),
]
PATH_VALUES = ["imgs", "a.b.c", "%00", "x" * 300]
QUERY_STRINGS = ["", "?wait=true&timeout=abc", "?days=-1&page=x&size=9999&force=maybe&n=x",
                 "?wait=true&timeout=1&state=%00&since=-5&include_disabled=2&sub=ghost"]


@pytest.fixture()
def fuzz_client(make_app):
    client = make_app(vault_master_key=VAULT_KEY).test_client()
    configure(client, "imgs", input_schema=[{"name": "x", "type": ["int", "array"]}])
    client.post("/api/vaults", headers=ADMIN, json={"name": "hf"})
    client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", "data": {"x": 1},
                                                   "task_id": "imgs"})
    return client


def _routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/monitoring"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return routes


def test_no_route_answers_500_to_malformed_input(fuzz_client):
    failures = []
    routes = _routes(fuzz_client.application)
    assert len(routes) >= 47
    for method, rule in routes:
        values = PATH_VALUES if "<" in rule else [""]
        for value in values:
            path = re.sub(r"<[^>]+>", value, rule)
            cases = ([(query, b"") for query in QUERY_STRINGS] if method == "GET"
                     else [("", body) for body in BAD_BODIES] + [(QUERY_STRINGS[2], b"{}")])
            for query, body in cases:
                response = fuzz_client.open(path + query, method=method, data=body,
                                            headers=ADMIN)
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append((method, path + query, body[:60],
                                     response.status_code, response.get_data()[:200]))
                elif response.is_json and response.status_code >= 400:
                    assert set(response.json) >= {"errors", "code"}
    assert not failures, failures[:10]
