"""/openapi.json names the query parameters each handler reads (http-api.md 8: the document is
generated from what the handlers validate; sections 5.4 and 7 list the parameters)."""

from __future__ import annotations

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
