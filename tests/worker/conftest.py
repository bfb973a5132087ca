"""Worker test fixtures: one deployment directory per session so task venvs are reused."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def deployment_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("deployment")
