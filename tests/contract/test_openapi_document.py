"""/openapi.json names the query parameters each handler reads (http-api.md 8: the document is
generated from what the handlers validate; sections 5.4 and 7 list the parameters)."""

from __future__ import annotations

from tests.server.conftest import ADMIN

EXPECTED_QUERY = {
    ("get", "/queue/{task_id}"): {"wait", "timeout"},
    ("get", "/api/queues/{queue}"): {"days"},
    ("delete", "/api/queues/{queue}"): {"force"},
    ("get", "/api/queues/{queue}/tasks"): {"state", "page", "size", "limit", "q"},
    ("get", "/api/workers/{worker_id}/logs"): {"n", "since"},
    ("get", "/api/queue-configs"): {"include_disabled"},
    ("post", "/api/queue-configs"): {"force"},
    ("post", "/api/queue-configs/{name}/restore"): {"sub"},
    ("delete", "/api/vaults/{vault}"): {"force"},
}


def test_every_query_parameter_is_documented_and_no_other(client):
    document = client.get("/openapi.json").json
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if names:
                found[(method, path)] = names
    assert found == EXPECTED_QUERY


def test_query_parameter_ranges_match_the_contract(client):
    operation = client.get("/openapi.json").json["paths"]["/api/queues/{queue}/tasks"]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert schemas["size"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert schemas["state"]["enum"] == ["pending", "active", "scheduled", "retry", "archived",
                                        "completed"]


def test_created_statuses_are_documented(client):
    paths = client.get("/openapi.json").json["paths"]
    assert set(paths["/api/vaults"]["post"]["responses"]) == {"201", "default"}
    for path, method in (("/api/queue-configs", "post"), ("/api/vaults/{vault}/entries", "post"),
                         ("/api/queue-configs/{name}/sub-queues/{sub}", "put")):
        assert {"200", "201"} <= set(paths[path][method]["responses"]), (method, path)


def test_an_empty_force_is_refused_not_taken_for_true(client, queue):
    client.post("/queue/add", json={"queue": queue, "data": 1}, headers=ADMIN)
    refused = client.delete(f"/api/queues/{queue}?force=", headers=ADMIN)
    assert refused.status_code == 400 and refused.json["code"] == "invalid_request"
    assert client.get(f"/api/queues/{queue}", headers=ADMIN).status_code == 200


def test_options_lists_only_the_matched_routes_methods(client):
    reload_allow = client.options("/api/queue-configs/reload").headers["Allow"]
    assert set(reload_allow.split(", ")) == {"POST", "OPTIONS"}
    named = set(client.options("/api/queue-configs/imgs").headers["Allow"].split(", "))
    assert named == {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}
