"""The worker's own name checks match whole strings too (wire-format.md 2 and 8.2: no
whitespace in queue names or in `worker_id`, which become Redis keys)."""

from __future__ import annotations

import pytest

from runqy.worker.settings import WorkerSettings, validate

VALID = WorkerSettings(server_url="http://127.0.0.1:3000", api_key="k" * 20,
                       queues=("imgs.default",), worker_id="gpu-01-4242")


def test_the_reference_settings_are_valid():
    assert validate(VALID) == []


@pytest.mark.parametrize("changes", [{"worker_id": "gpu-01\n"}, {"queues": ("imgs.default\n",)}],
                         ids=["worker_id", "queue"])
def test_a_trailing_newline_is_refused(changes):
    problems = validate(WorkerSettings(**{**VALID.__dict__, **changes}))
    assert problems, changes
