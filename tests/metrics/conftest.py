"""Fixtures for the metrics tests: a runqy app on the session's real Redis, and a scrape parser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from runqy.config import Settings
from runqy.web import create_app
from runqy.web.state import state_of

ADMIN_KEY = "metrics-test-admin-key-0123456789"


def app_settings(tmp_path: Path, redis_url: str, **overrides: object) -> Settings:
    return Settings(redis_url=redis_url, instance_path=tmp_path / "instance", api_key=ADMIN_KEY,
                    **overrides)


@pytest.fixture()
def make_app(tmp_path, redis_server) -> Iterator[Callable[..., Flask]]:
    """Build runqy apps on the test Redis (closed after the test); keyword arguments override
    Settings fields."""
    built: list[Flask] = []

    def build(**overrides: object) -> Flask:
        overrides.setdefault("redis_url", redis_server.url)
        built.append(create_app(app_settings(tmp_path, **overrides)))
        return built[-1]

    yield build
    for app in built:
        state_of(app).close()


class Scrape:
    """One parsed /metrics exposition."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def family(self, name: str):
        assert name in self.families, f"family {name} missing from /metrics"
        return self.families[name]

    def values(self, sample_name: str) -> dict[frozenset, float]:
        """Every sample called `sample_name`, keyed by its label set."""
        found = {}
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == sample_name:
                    found[frozenset(sample.labels.items())] = sample.value
        return found

    def get(self, sample_name: str, **labels: str) -> float | None:
        """The sample's value, or None when the scrape does not have it."""
        return self.values(sample_name).get(frozenset(labels.items()))

    def value(self, sample_name: str, **labels: str) -> float:
        key = frozenset(labels.items())
        values = self.values(sample_name)
        assert key in values, f"{sample_name}{labels} missing; have {sorted(values, key=str)}"
        return values[key]

    def sample_names(self) -> set[str]:
        return {s.name for f in self.families.values() for s in f.samples}
