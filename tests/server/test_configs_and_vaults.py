"""Queue configurations, YAML reload, vaults and worker registration (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from runqy.core.models import VaultEntry
from runqy.web.extensions import db
from tests.server.conftest import ADMIN, VAULT_KEY, WORKER, configure, deployment

GOOD_YAML = """
queues:
  inference:
    description: GPU inference
    sub_queues:
      - {name: high, priority: 10}
      - {name: low, priority: 1}
    deployment:
      git_url: https://github.com/acme/models.git
      startup_cmd: python main.py
      env: {MODEL_NAME: small}
    input:
      - {name: prompt, type: string}
"""


@pytest.fixture()
def database_url(pg_or_sqlite):
    return pg_or_sqlite


@pytest.fixture()
def vault_client(make_app):
    return make_app(vault_master_key=VAULT_KEY).test_client()


def test_create_read_replace_and_patch(client, redis_client):
    created = configure(client, "imgs", description="d", task_defaults={"timeout": 60})
    assert created["queue"]["sub_queues"] == [{"name": "default", "priority": 1,
                                               "enabled": True}]
    assert created["warnings"] == []
    assert redis_client.sismember("asynq:queues", "imgs.default")
    exists = client.post("/api/queue-configs", headers=ADMIN,
                         json={"name": "imgs", "deployment": deployment()})
    assert exists.status_code == 409 and exists.json["code"] == "queue_config_exists"
    forced = client.post("/api/queue-configs?force=true", headers=ADMIN,
                         json={"name": "imgs", "deployment": deployment()})
    assert forced.status_code == 200 and forced.json["queue"]["description"] is None
    replaced = client.put("/api/queue-configs/imgs", headers=ADMIN, json={
        "deployment": deployment(env={"A": "1"}),
        "sub_queues": [{"name": "hi", "priority": 9}, {"name": "lo", "priority": 2}]})
    assert replaced.status_code == 200
    assert [s["name"] for s in replaced.json["queue"]["sub_queues"]] == ["hi", "lo"]
    patched = client.patch("/api/queue-configs/imgs", headers=ADMIN, json={
        "description": "patched", "deployment": {"env": {"B": "2"}, "mode": "one_shot"}})
    queue = patched.json["queue"]
    assert queue["description"] == "patched" and queue["deployment"]["mode"] == "one_shot"
    assert queue["deployment"]["env"] == {"A": "1", "B": "2"}
    assert len(queue["sub_queues"]) == 2
    assert client.get("/api/queue-configs/imgs", headers=ADMIN).json["description"] == "patched"
    listing = client.get("/api/queue-configs", headers=ADMIN).json
    assert listing["count"] == 1 and listing["queues"][0]["name"] == "imgs"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "q"}, 422, "deployment: is required and must be an object"),
    ({"name": "q", "deployment": {"path": "/x"}}, 422, "deployment: startup_cmd is required"),
    ({"name": "q", "deployment": deployment(git_url="https://g")}, 422,
     "deployment: exactly one of git_url and path is required"),
    ({"name": "q", "deployment": deployment(env={"PATH": "/bin"})}, 422,
     "deployment: env key 'PATH' is reserved"),
    ({"name": "q", "deployment": deployment(code_path="../up")}, 422,
     "deployment: code_path must be relative and must not contain '..'"),
    ({"name": "q.x", "deployment": deployment()}, 422, None),
    ({"name": "q", "deployment": deployment(), "sub_queues": [{"name": "a", "priority": 0}]},
     422, "sub_queues[0]: priority must be an integer 1-1000"),
    ({"name": "q", "deployment": deployment(), "input_schema": [{"name": "x"}]}, 422, None),
    ({"name": "q", "deployment": deployment(), "color": "red"}, 400, "unknown field 'color'"),
    ({"name": 3, "deployment": deployment()}, 400, None),
])
def test_invalid_configurations(client, body, status, message):
    response = client.post("/api/queue-configs", headers=ADMIN, json=body)
    assert response.status_code == status, response.json
    if message:
        assert message in response.json["errors"]


def test_soft_delete_restore_and_sub_queue_routes(client):
    configure(client, "imgs")
    added = client.put("/api/queue-configs/imgs/sub-queues/high", headers=ADMIN,
                       json={"priority": 5})
    assert added.status_code == 201
    assert client.put("/api/queue-configs/imgs/sub-queues/high", headers=ADMIN,
                      json={"priority": 6}).status_code == 200
    removed = client.delete("/api/queue-configs/imgs/sub-queues/high", headers=ADMIN)
    assert removed.status_code == 200
    registered = client.post("/worker/register", headers=WORKER, json={"queue": "imgs"}).json
    assert [s["name"] for s in registered["sub_queues"]] == ["imgs.default"]
    client.delete("/api/queue-configs/imgs", headers=ADMIN)
    assert client.get("/api/queue-configs", headers=ADMIN).json["count"] == 0
    disabled = client.get("/api/queue-configs?include_disabled=true", headers=ADMIN).json
    assert disabled["queues"][0]["enabled"] is False
    assert client.post("/worker/register", headers=WORKER,
                       json={"queue": "imgs"}).json["code"] == "queue_not_found"
    restored = client.post("/api/queue-configs/imgs/restore", headers=ADMIN)
    assert restored.status_code == 200
    assert len(client.post("/worker/register", headers=WORKER,
                           json={"queue": "imgs"}).json["sub_queues"]) == 2
    for path in ("/api/queue-configs/ghost", "/api/queue-configs/imgs/sub-queues/ghost"):
        assert client.delete(path, headers=ADMIN).json["code"] == "queue_config_not_found"


def test_yaml_reload_is_all_or_nothing(make_app, tmp_path, redis_client):
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "inference.yaml").write_text(GOOD_YAML)
    client = make_app(config_dir=conf).test_client()
    loaded = client.get("/api/queue-configs/inference", headers=ADMIN).json
    assert loaded["source"] == "yaml" and loaded["input_schema"][0]["name"] == "prompt"
    assert redis_client.sismember("asynq:queues", "inference.high")
    (conf / "broken.yml").write_text("queues:\n  other:\n    deployment: {path: /x}\n")
    refused = client.post("/api/queue-configs/reload", headers=ADMIN)
    assert refused.status_code == 422 and refused.json["code"] == "invalid_config"
    assert refused.json["errors"] == [
        "broken.yml: queues.other.deployment: startup_cmd is required"]
    assert client.get("/api/queue-configs/other", headers=ADMIN).status_code == 404
    (conf / "broken.yml").unlink()
    (conf / "inference.yaml").write_text(GOOD_YAML.replace("inference:", "renamed:"))
    reloaded = client.post("/api/queue-configs/reload", headers=ADMIN).json
    assert reloaded["reloaded"] == ["renamed"] and reloaded["disabled"] == ["inference"]
    assert reloaded["timestamp"].endswith("Z")


def test_get_then_put_round_trips_and_keeps_a_masked_token(client):
    configure(client, "imgs", deployment=deployment(git_token="ghp_literal", path=None,
                                                    git_url="https://g/r.git"))
    document = client.get("/api/queue-configs/imgs", headers=ADMIN).json
    assert document["deployment"]["git_token"] == "****"
    document["description"] = "edited"
    saved = client.put("/api/queue-configs/imgs", headers=ADMIN, json=document)
    assert saved.status_code == 200, saved.json
    registered = client.post("/worker/register", headers=WORKER, json={"queue": "imgs"}).json
    assert registered["deployment"]["git_token"] == "ghp_literal"


def test_reload_without_a_directory_gives_409(client):
    response = client.post("/api/queue-configs/reload", headers=ADMIN)
    assert response.status_code == 409 and response.json["code"] == "config_dir_unset"


def test_vault_routes_are_503_without_a_master_key(client):
    response = client.get("/api/vaults", headers=ADMIN)
    assert response.status_code == 503 and response.json["code"] == "vaults_disabled"
    assert "openssl rand -base64 32" in response.json["errors"][0]


def test_vaults_mask_secrets_and_encrypt_at_rest(vault_client):
    client = vault_client
    assert client.post("/api/vaults", headers=ADMIN,
                       json={"name": "hf", "description": "tokens"}).status_code == 201
    assert client.post("/api/vaults", headers=ADMIN, json={"name": "hf"}).json[
        "code"] == "vault_exists"
    secret = client.post("/api/vaults/hf/entries", headers=ADMIN,
                         json={"key": "HF_TOKEN", "value": "hf_supersecret"})
    assert secret.status_code == 201
    assert secret.json["value"] == "********" and secret.json["value_length"] == 14
    plain = client.post("/api/vaults/hf/entries", headers=ADMIN,
                        json={"key": "REGION", "value": "eu", "is_secret": False})
    assert plain.json["value"] == "eu"
    replaced = client.post("/api/vaults/hf/entries", headers=ADMIN,
                           json={"key": "REGION", "value": "us", "is_secret": False})
    assert replaced.status_code == 200 and replaced.json["value"] == "us"
    detail = client.get("/api/vaults/hf", headers=ADMIN).json
    assert detail["entry_count"] == 2 and "hf_supersecret" not in str(detail)
    assert client.get("/api/vaults", headers=ADMIN).json["vaults"][0]["entry_count"] == 2
    with client.application.app_context():
        blobs = [e.value_encrypted for e in db.session.query(VaultEntry)]
    assert all(b"hf_supersecret" not in blob and len(blob) > 28 for blob in blobs)
    for body in ({"key": "PATH", "value": "x"}, {"key": "1BAD", "value": "x"}):
        assert client.post("/api/vaults/hf/entries", headers=ADMIN,
                           json=body).status_code == 422
    assert client.post("/api/vaults", headers=ADMIN, json={"name": "HOME"}).status_code == 422
    assert client.post("/api/vaults/hf/entries", headers=ADMIN,
                       json={"key": "K", "value": 5}).status_code == 400
    assert client.delete("/api/vaults/hf/entries/NOPE", headers=ADMIN).json[
        "code"] == "vault_entry_not_found"
    assert client.patch("/api/vaults/hf", headers=ADMIN,
                        json={"description": "new"}).json["vault"]["description"] == "new"
    assert client.get("/api/vaults/ghost", headers=ADMIN).json["code"] == "vault_not_found"


def test_registration_returns_redis_deployment_and_decrypted_vaults(vault_client, redis_server):
    client = vault_client
    warned = client.post("/api/queue-configs", headers=ADMIN, json={
        "name": "inference", "sub_queues": [{"name": "low", "priority": 1},
                                             {"name": "high", "priority": 10}],
        "deployment": {"git_url": "https://github.com/acme/models.git",
                       "startup_cmd": "python main.py", "env": {"MODEL": "small"},
                       "vaults": ["hf", "extra"], "git_token": "vault://hf/GIT_TOKEN"}}).json
    assert warned["warnings"] == ["vault 'hf' does not exist", "vault 'extra' does not exist"]
    assert warned["queue"]["deployment"]["git_token"] == "vault://hf/GIT_TOKEN"
    missing = client.post("/worker/register", headers=WORKER, json={"queue": "inference"})
    assert missing.status_code == 409 and missing.json["code"] == "vault_missing"
    vaults = {"hf": {"HF_TOKEN": "a", "GIT_TOKEN": "ghp"}, "extra": {"HF_TOKEN": "b"}}
    for vault, entries in vaults.items():
        client.post("/api/vaults", headers=ADMIN, json={"name": vault})
        for key, value in entries.items():
            client.post(f"/api/vaults/{vault}/entries", headers=ADMIN,
                        json={"key": key, "value": value})
    body = client.post("/worker/register", headers=WORKER, json={
        "queue": "inference", "hostname": "gpu-01", "worker_id": "gpu-01-1"}).json
    assert body["redis"]["addr"] == f"127.0.0.1:{redis_server.port}" and body["redis"]["db"] == 0
    assert body["queue"] == {"name": "inference", "priority": 10}
    assert body["sub_queues"] == [{"name": "inference.high", "priority": 10},
                                  {"name": "inference.low", "priority": 1}]
    dep = body["deployment"]
    assert dep["branch"] == "main" and dep["startup_timeout_secs"] == 60
    assert dep["git_token"] == "ghp" and dep["env"] == {"MODEL": "small"}
    assert dep["code_path"] is None and dep["requirements_file"] == "requirements.txt"
    assert body["vaults"] == {"HF_TOKEN": "b", "GIT_TOKEN": "ghp"}
    only_low = client.post("/worker/register", headers=WORKER,
                           json={"queue": "inference.low"}).json
    assert only_low["sub_queues"] == [{"name": "inference.low", "priority": 1}]
    in_use = client.delete("/api/vaults/hf", headers=ADMIN)
    assert in_use.status_code == 409 and in_use.json["code"] == "vault_in_use"
    assert client.delete("/api/vaults/hf?force=true", headers=ADMIN).json["deleted"] is True


def test_registration_errors(make_app):
    client = make_app().test_client()
    configure(client, "plain")
    configure(client, "secret", deployment=deployment(vaults=["v"]))
    assert client.post("/worker/register", headers=WORKER, json={"queue": "secret"}).json[
        "code"] == "vaults_disabled"
    assert client.post("/worker/register", headers=WORKER, json={"queue": "a.b.c"}).json[
        "code"] == "invalid_queue_name"
    assert client.post("/worker/register", headers=WORKER, json={"queue": "plain.nope"}).json[
        "code"] == "queue_not_found"
    assert client.post("/worker/register", headers=WORKER, json={}).status_code == 400
    worker_url = make_app(worker_redis_url="rediss://:pw@10.0.0.5:6380/2").test_client()
    redis_block = worker_url.post("/worker/register", headers=WORKER,
                                  json={"queue": "plain"}).json["redis"]
    assert redis_block == {"url": "rediss://:pw@10.0.0.5:6380/2", "addr": "10.0.0.5:6380",
                           "password": "pw", "db": 2, "use_tls": True}
