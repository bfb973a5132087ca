"""Authentication by role, read-only mode, the error envelope, and the ops routes."""

from __future__ import annotations

import re

import pytest

from tests.server.conftest import ADMIN, ADMIN_KEY, CLIENT, CLIENT_KEY, WORKER, configure


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/queue/add", {"admin", "client"}),
    ("POST", "/queue/add-batch", {"admin", "client"}),
    ("GET", "/queue/abc", {"admin", "client"}),
    ("POST", "/worker/register", {"admin", "worker"}),
    ("GET", "/api/queues", {"admin"}),
    ("GET", "/api/system", {"admin"}),
    ("POST", "/api/queue-configs/reload", {"admin"}),
])
def test_roles(client, method, path, allowed):
    headers = {"admin": ADMIN, "worker": WORKER, "client": CLIENT}
    for role, header in headers.items():
        status = client.open(path, method=method, headers=header, json={}).status_code
        if role in allowed:
            assert status not in (401, 403), (role, path)
        else:
            assert status == 403, (role, path)
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {ADMIN_KEY}"}):
        response = client.open(path, method=method, headers=bad, json={})
        assert response.status_code == 401 and response.json["code"] == "unauthorized"


def test_x_api_key_header_works_and_query_string_keys_do_not(client):
    assert client.get("/api/queues", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    assert client.get(f"/api/queues?api_key={ADMIN_KEY}").status_code == 401
    # A Bearer header with another scheme falls back to X-API-Key.
    assert client.get("/api/queues", headers={"Authorization": "Token x",
                                              "X-API-Key": ADMIN_KEY}).status_code == 200


def test_same_key_for_two_roles_gets_both(make_app):
    client = make_app(client_api_key=ADMIN_KEY).test_client()
    assert client.get("/api/queues", headers=ADMIN).status_code == 200


def test_generated_admin_key_is_stored_0600_and_reused(make_app, tmp_path):
    app = make_app(api_key=None)
    key_file = tmp_path / "instance" / "admin-api-key"
    key = key_file.read_text().strip()
    assert len(key) == 43 and key_file.stat().st_mode & 0o777 == 0o600
    assert app.extensions["runqy"].secrets.admin_key_generated
    again = make_app(api_key=None)
    assert not again.extensions["runqy"].secrets.admin_key_generated
    assert again.test_client().get(
        "/api/system", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert (tmp_path / "instance" / "secret-key").read_text().strip() == again.secret_key


def test_read_only_refuses_admin_changes_but_not_reads_or_client_routes(make_app):
    writable = make_app().test_client()
    configure(writable, "imgs")
    client = make_app(read_only=True).test_client()
    refused = client.post("/api/queues/imgs/pause", headers=ADMIN)
    assert refused.status_code == 403 and refused.json["code"] == "read_only"
    assert client.get("/api/queues", headers=ADMIN).status_code == 200
    assert client.post("/queue/add", headers=CLIENT,
                       json={"queue": "imgs", "data": 1}).status_code == 200
    assert client.post("/api/queues/imgs/pause").status_code == 401


def test_error_envelope_for_unknown_routes_and_methods(client):
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json == {"errors": ["no route /no/such/route"], "code": "not_found"}
    wrong = client.delete("/health")
    assert wrong.status_code == 405 and wrong.json["code"] == "method_not_allowed"


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    too_long = "x" * 65
    generated = client.get("/health", headers={"X-Request-ID": too_long})
    assert generated.headers["X-Request-ID"] != too_long
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])


def test_health_and_healthz(client):
    health = client.get("/health").json
    assert health["status"] == "ok" and health["version"] == "0.3.0"
    ready = client.get("/healthz")
    assert ready.status_code == 200 and ready.json["redis"]["ok"]
    assert ready.json["database"]["ok"]


def test_healthz_is_503_when_redis_is_down(make_app):
    from tests.support.redis_server import free_port

    client = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "unavailable"
    assert response.json["code"] == "redis_unavailable" and response.json["database"]["ok"]
    assert response.json["errors"] == ["redis: connection refused"]
    down = client.get("/api/queues", headers=ADMIN)
    assert down.status_code == 503 and down.json["code"] == "redis_unavailable"


def test_metrics_open_or_behind_a_token(make_app):
    open_client = make_app().test_client()
    body = open_client.get("/metrics")
    assert body.status_code == 200 and b"runqy_build_info" in body.data
    guarded = make_app(metrics_token="scrape-token-123").test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/metrics", headers={
        "Authorization": "Bearer scrape-token-123"}).status_code == 200


def test_docs_page_serves_vendored_swagger_ui(client):
    page = client.get("/docs")
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in page.data
    assert b"cdn" not in page.data.lower()
    js = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.data) > 100_000
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1") and "/queue/add" in spec["paths"]


def test_root_redirects_to_dashboard_or_docs(make_app):
    ui = make_app().test_client()
    assert ui.get("/").status_code == 302 and "/monitoring" in ui.get("/").headers["Location"]
    assert ui.get("/monitoring/").status_code in (200, 302)
    no_ui = make_app(no_ui=True).test_client()
    assert no_ui.get("/").headers["Location"].endswith("/docs")
    assert no_ui.get("/monitoring/").status_code == 404
    assert no_ui.get("/docs").status_code == 200


def test_url_prefix_moves_every_route(make_app):
    client = make_app(url_prefix="/runqy").test_client()
    assert client.get("/runqy/health").status_code == 200
    assert client.get("/health").status_code == 404
    assert client.get("/runqy/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert "/runqy/queue/add" not in client.get("/runqy/openapi.json").json["paths"]
    assert client.get("/runqy/openapi.json").json["servers"] == [{"url": "/runqy"}]


def test_cors_only_for_listed_origins(make_app):
    client = make_app(cors_origins=("https://app.example",)).test_client()
    allowed = client.options("/queue/add", headers={"Origin": "https://app.example",
                                                    "Access-Control-Request-Method": "POST"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert CLIENT_KEY not in str(other.headers)


def test_trusted_proxy_headers_shape_links(make_app):
    headers = {"X-Forwarded-Prefix": "/edge", "X-Forwarded-Proto": "https"}
    trusted = make_app(trusted_proxies=1).test_client()
    assert b'/edge/static/vendor/swagger-ui/' in trusted.get("/docs", headers=headers).data
    untrusted = make_app().test_client()
    assert b'/edge/' not in untrusted.get("/docs", headers=headers).data


def test_only_dashboard_pages_carry_the_session_cookie(make_app):
    client = make_app(url_prefix="/runqy").test_client()
    # The dashboard's forms keep their CSRF token in the session: the page sets the cookie.
    page = client.get("/runqy/monitoring/login", follow_redirects=True)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert "session=" in page.headers.get("Set-Cookie", "")
    # API and ops answers never open it: no cookie, no Vary: Cookie, even when one is sent.
    for response in (client.get("/runqy/health"),
                     client.post("/runqy/queue/add", headers=CLIENT,
                                 json={"queue": "nope", "data": 1})):
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
