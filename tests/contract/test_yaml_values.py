"""YAML configuration values must be JSON values (http-api.md 7.4: "The keys are the JSON
keys"): `.inf`, `.nan` and dates have no JSON form, so a reload refuses them with 422
`invalid_config` instead of storing them (an `.inf` default became the payload `Infinity`)."""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN

YAML = """queues:
  yq:
    deployment: {{path: /srv, startup_cmd: x}}
    input_schema:
      - {{name: f, type: float, required: false, default: {value}}}
"""


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "2020-01-01"])
def test_a_yaml_value_without_a_json_form_is_invalid_config(make_app, tmp_path, value):
    conf = tmp_path / "queues"
    conf.mkdir()
    client = make_app(config_dir=conf).test_client()
    (conf / "q.yaml").write_text(YAML.format(value=value))
    response = client.post("/api/queue-configs/reload", headers=ADMIN)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_config"
    assert client.get("/api/queue-configs/yq", headers=ADMIN).status_code == 404


def test_a_finite_yaml_default_reaches_the_payload(make_app, tmp_path):
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "q.yaml").write_text(YAML.format(value="1.5"))
    client = make_app(config_dir=conf).test_client()
    response = client.post("/queue/add", headers=ADMIN, json={"queue": "yq", "data": {}})
    assert response.status_code == 200 and response.json["data"] == {"f": 1.5}
