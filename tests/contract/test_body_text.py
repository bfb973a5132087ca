"""Request bodies are UTF-8 JSON text (http-api.md 1), checked where Python's parser is looser.

A JSON body with a lone UTF-16 surrogate escape (`"\\ud800"`) is not UTF-8 JSON text
(http-api.md 1: "JSON in UTF-8"; the escape names no character UTF-8 can hold): 400
`invalid_json`, never a 500, and nothing is written. Escaped surrogate pairs (how
`json.dumps` sends an emoji) stay valid."""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN, redis_keys

BODIES = [
    ("/queue/add", b'{"queue": "imgs", "data": "\\ud800"}'),
    ("/queue/add", b'{"queue": "imgs", "x": {"\\udc00": 1}}'),
    ("/queue/add-batch", b'{"queue": "imgs", "jobs": ["\\udfff", 1]}'),
    ("/api/queue-configs",
     b'{"name": "q2", "description": "\\ud800", "deployment": {"path": "/x", "startup_cmd": "x"}}'),
    ("/worker/register", b'{"queue": "imgs", "hostname": "\\ud800"}'),
    # Numbers past the double range parse to infinity, stored and echoed as `Infinity`, which
    # is not JSON (5.2 step 3: the stored payload is compact UTF-8 JSON).
    *(("/queue/add", b'{"queue": "imgs", "data": {"x": ' + number + b"}}")
      for number in (b"1e400", b"-1e999", b"1" + b"0" * 400 + b".5")),
]


@pytest.mark.parametrize("path, body", BODIES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BODIES)])
def test_text_with_no_utf8_json_value_is_invalid_json(client, queue, redis_client, path, body):
    before = redis_keys(redis_client)
    response = client.post(path, headers=ADMIN, data=body)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_json"
    assert redis_keys(redis_client) == before


def test_an_escaped_surrogate_pair_is_a_character(client, queue):
    response = client.post("/queue/add", headers=ADMIN,
                           data=b'{"queue": "imgs", "data": "\\ud83d\\ude00 \\\\ud800"}')
    assert response.status_code == 200, response.json
    assert response.json["data"] == "\U0001f600 \\ud800"


def test_large_and_tiny_finite_numbers_are_kept(client, queue):
    response = client.post("/queue/add", headers=ADMIN,
                           data=b'{"queue": "imgs", "data": [1e300, 1e-400, 12345678901234567890]}')
    assert response.status_code == 200, response.json
    assert response.json["data"] == [1e300, 0.0, 12345678901234567890]
