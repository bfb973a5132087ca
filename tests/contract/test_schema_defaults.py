"""A queue configuration's `input_schema` defaults must match their field's type (http-api.md
7.4): /queue/add inserts a default as is, so a default `"x"` for an `int` field would reach the
task payload. The API and the YAML reload both refuse it with 422 `invalid_config`."""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN, configure, deployment

STEPS_X = [{"name": "prompt", "type": "string"},
           {"name": "steps", "type": ["int"], "required": False, "default": "x"}]
PROBLEM = "input_schema[1]: default of field 'steps' has type string, expected int"


def test_create_with_a_mistyped_default_is_invalid_config(client):
    response = client.post("/api/queue-configs", headers=ADMIN, json={
        "name": "imgs", "deployment": deployment(), "input_schema": STEPS_X})
    assert response.status_code == 422
    assert response.json["code"] == "invalid_config" and response.json["errors"] == [PROBLEM]
    assert client.get("/api/queue-configs/imgs", headers=ADMIN).status_code == 404


@pytest.mark.parametrize("method", ["put", "patch"])
def test_replace_and_patch_with_a_mistyped_default_are_refused(client, method):
    configure(client, "imgs")
    response = getattr(client, method)("/api/queue-configs/imgs", headers=ADMIN,
                                       json={"deployment": deployment(), "input_schema": STEPS_X})
    assert response.status_code == 422 and response.json["errors"] == [PROBLEM]
    assert client.get("/api/queue-configs/imgs", headers=ADMIN).json["input_schema"] is None


@pytest.mark.parametrize(("types", "default", "stored"), [
    (["int"], 20, 20), (["int"], 20.0, 20), (["float"], 3, 3), (["string", "int"], "auto", "auto"),
    (["bool"], False, False), (["array"], [1], [1]), (["object"], {"a": 1}, {"a": 1}),
])
def test_well_typed_defaults_are_accepted_and_reach_the_payload(client, types, default, stored):
    configure(client, "imgs", input_schema=[
        {"name": "steps", "type": types, "required": False, "default": default}])
    response = client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", "data": {}})
    assert response.status_code == 200, response.json
    assert response.json["data"] == {"steps": stored}
    assert type(response.json["data"]["steps"]) is type(stored)  # 20.0 is stored as the int 20


@pytest.mark.parametrize("default", ['"x"', "1.5", "true", "[1]"])
def test_yaml_reload_refuses_a_mistyped_default(make_app, tmp_path, default):
    conf = tmp_path / "queues"
    conf.mkdir()
    client = make_app(config_dir=conf).test_client()
    (conf / "q.yaml").write_text("queues:\n  yq:\n    deployment: {path: /srv, startup_cmd: x}\n"
                                 "    input_schema:\n"
                                 f"      - {{name: steps, type: int, required: false, "
                                 f"default: {default}}}\n")
    response = client.post("/api/queue-configs/reload", headers=ADMIN)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_config"
    [message] = response.json["errors"]
    assert message.startswith("q.yaml: queues.yq: input_schema[0]: default of field 'steps'")
    assert client.get("/api/queue-configs/yq", headers=ADMIN).status_code == 404


def test_a_null_default_means_no_default(client):
    """A bare `default:` in an original runqy YAML file is null: the field simply has none."""
    configure(client, "imgs", input_schema=[
        {"name": "steps", "type": ["int"], "required": False, "default": None}])
    assert "default" not in client.get("/api/queue-configs/imgs",
                                       headers=ADMIN).json["input_schema"][0]
    response = client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", "data": {}})
    assert response.status_code == 200, response.json
    assert response.json["data"] == {}
