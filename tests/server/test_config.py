"""Settings: precedence (flag > env > .env > default), parsing, derived URLs, start-up errors."""

from __future__ import annotations

import warnings

import pytest

from runqy.config import ConfigError, Settings, mask_secret, mask_url_password


def load(tmp_path, env=None, dotenv="", overrides=None):
    path = tmp_path / ".env"
    path.write_text(dotenv)
    return Settings.load(overrides or {}, environ=env or {}, dotenv_path=path)


def test_defaults(tmp_path):
    settings = load(tmp_path)
    assert (settings.host, settings.port, settings.threads) == ("127.0.0.1", 3000, 32)
    assert settings.effective_max_waiters == 10_000 and settings.wants_embedded_redis
    assert settings.database_uri() == f"sqlite:///{settings.sqlite_file}"
    assert settings.sqlite_file.name == "runqy.db" and settings.vault_key_bytes() is None


def test_flag_beats_env_beats_dotenv(tmp_path):
    dotenv = "PORT=4000\nHOST=0.0.0.0\nexport RUNQY_THREADS='7'\n# comment\nRUNQY_NO_UI=yes\n"
    settings = load(tmp_path, env={"PORT": "5000"}, dotenv=dotenv, overrides={"host": "::1"})
    assert settings.port == 5000 and settings.host == "::1"
    assert settings.threads == 7 and settings.no_ui is True


def test_aliases_booleans_and_lists(tmp_path):
    settings = load(tmp_path, env={"RUNQY_JWT_SECRET": "s", "ASYNQ_READ_ONLY": "1",
                                   "RUNQY_CORS_ORIGINS": "https://a, https://b"})
    assert settings.secret_key == "s" and settings.read_only
    assert settings.cors_origins == ("https://a", "https://b")
    with pytest.raises(ConfigError, match="RUNQY_READ_ONLY"):
        load(tmp_path, env={"RUNQY_READ_ONLY": "maybe"})
    with pytest.raises(ConfigError, match="PORT"):
        load(tmp_path, env={"PORT": "http"})


def test_redis_and_database_from_parts(tmp_path):
    settings = load(tmp_path, env={"REDIS_HOST": "r", "REDIS_PASSWORD": "p@ss", "REDIS_DB": "2",
                                   "REDIS_TLS": "true", "DATABASE_HOST": "db",
                                   "DATABASE_PASSWORD": "pw", "DATABASE_SSL": "require"})
    assert not settings.wants_embedded_redis
    assert settings.redis_connection_url() == "rediss://:p%40ss@r:6379/2"
    assert settings.database_uri() == (
        "postgresql+psycopg://postgres:pw@db:5432/runqy?sslmode=require")
    url = load(tmp_path, env={"DATABASE_URL": "postgres://u@h/d"}).database_uri()
    assert url == "postgresql+psycopg://u@h/d"
    never = load(tmp_path, env={"RUNQY_EMBEDDED_REDIS": "never"})
    assert not never.wants_embedded_redis
    assert never.redis_connection_url() == "redis://localhost:6379/0"


def test_bad_values_stop_start_up(tmp_path):
    with pytest.raises(ConfigError, match="openssl rand -base64 32"):
        load(tmp_path, env={"RUNQY_VAULT_MASTER_KEY": "c2hvcnQ="})
    with pytest.raises(ConfigError, match="QUEUE_WORKERS_DIR"):
        load(tmp_path, env={"QUEUE_WORKERS_DIR": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="RUNQY_URL_PREFIX"):
        load(tmp_path, env={"RUNQY_URL_PREFIX": "runqy"})


def test_masking():
    assert mask_url_password("redis://:secret@h:1/0") == "redis://:****@h:1/0"
    assert mask_url_password("redis://h:1/0") == "redis://h:1/0"
    assert mask_secret("abcdefghijklmnopqrstuvwxyz") == "abcd…wxyz"
    assert mask_secret("short") == "****"


def test_processes_replaces_workers_which_still_works_and_warns_once(tmp_path, monkeypatch):
    """The waitress process count is `--processes`/RUNQY_PROCESSES; the old names still apply."""
    monkeypatch.setattr("runqy.config._warned", set())
    assert load(tmp_path, env={"RUNQY_PROCESSES": "3"}).processes == 3
    with pytest.warns(FutureWarning, match="RUNQY_WORKERS is deprecated.*RUNQY_PROCESSES"):
        assert load(tmp_path, env={"RUNQY_WORKERS": "2"}).processes == 2
    with pytest.warns(FutureWarning, match="--workers is deprecated.*--processes"):
        assert load(tmp_path, overrides={"workers": 4}).processes == 4
    # The new name wins over the old one, and each old name warns only once per process.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = load(tmp_path, env={"RUNQY_PROCESSES": "5", "RUNQY_WORKERS": "2"},
                        overrides={"workers": 4, "processes": 6})
        assert settings.processes == 6
        assert load(tmp_path, env={"RUNQY_WORKERS": "2"}).processes == 2
