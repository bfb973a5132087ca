"""Values of the wrong shape (a mapping or a list where a name or an enum belongs) are refused
with 4xx everywhere: API bodies, YAML files at start-up, reloads and the --watch thread."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runqy.web.config_watch import ConfigWatcher
from tests.server.conftest import ADMIN, configure, deployment
from tests.server.test_config_watch import YAML, _names
from tests.support.polling import poll_until
from tests.support.redis_server import free_port

WRONG_SHAPES = [{"a": 1}, ["a"], {}, []]
BAD_YAML = """
queues:
  imgs:
    deployment: {path: /srv, startup_cmd: run}
    sub_queues:
      - name: {high: 1}
"""


@pytest.mark.parametrize("name", WRONG_SHAPES, ids=repr)
def test_a_sub_queue_name_of_the_wrong_shape_is_a_422(client, name):
    body = {"name": "imgs", "deployment": deployment(), "sub_queues": [{"name": name}]}
    assert client.post("/api/queue-configs", json=body, headers=ADMIN).status_code == 422
    assert client.put("/api/queue-configs/imgs", json=body, headers=ADMIN).status_code in \
        (404, 422)
    configure(client, "other")
    patched = client.patch("/api/queue-configs/other", headers=ADMIN,
                           json={"sub_queues": [{"name": name}]})
    assert patched.status_code == 422 and patched.json["code"] == "invalid_config"


@pytest.mark.parametrize("field", ["state", "action"])
@pytest.mark.parametrize("value", WRONG_SHAPES + [1, None], ids=repr)
def test_an_enum_field_of_the_wrong_shape_is_a_400(client, field, value):
    configure(client, "imgs")
    body = {"action": "delete", "state": "pending", field: value}
    response = client.post("/api/queues/imgs.default/tasks/all", json=body, headers=ADMIN)
    assert response.status_code == 400 and response.json["code"] == "invalid_request"


def test_a_yaml_sub_queue_name_of_the_wrong_shape_is_refused_on_reload(make_app, tmp_path):
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "a.yaml").write_text(YAML.format(name="first"))
    app = make_app(config_dir=conf)
    (conf / "a.yaml").write_text(BAD_YAML)
    response = app.test_client().post("/api/queue-configs/reload", headers=ADMIN)
    assert response.status_code == 422, response.json
    assert "sub_queues[0]" in response.json["errors"][0]
    assert _names(app) == {"first"}


def test_the_watcher_survives_a_bad_file_and_applies_the_next_good_one(make_app, tmp_path):
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "a.yaml").write_text(YAML.format(name="first"))
    app = make_app(config_dir=conf)
    watcher = ConfigWatcher(app, conf)
    watcher.start()
    try:
        (conf / "a.yaml").write_text(BAD_YAML)
        poll_until(lambda: watcher.reloads_attempted >= 1, timeout=10, what="a reload attempt")
        (conf / "a.yaml").write_text(YAML.format(name="second"))
        poll_until(lambda: _names(app) == {"second"}, timeout=10, what="the next valid edit")
    finally:
        watcher.stop()


def test_serve_with_a_bad_yaml_file_says_one_line(tmp_path):
    runqy = Path(sys.executable).parent / "runqy"
    if not runqy.exists():
        pytest.skip("the runqy console script is not installed in this interpreter")
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "a.yaml").write_text(BAD_YAML)
    result = subprocess.run([str(runqy), "serve", "--config", str(conf), "--no-embedded-redis",
                             "--redis-url", "redis://127.0.0.1:1/0", "--port", str(free_port()),
                             "--instance-path", str(tmp_path / "instance")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sub_queues[0]" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
