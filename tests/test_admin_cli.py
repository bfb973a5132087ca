"""`runqy admin reset-password` on a real SQLite database: through the installed console script
(then a dashboard login over HTTP with the new password), and the prompt and refusal paths."""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from waitress.server import create_server

from runqy.cli import main
from runqy.config import Settings
from runqy.web import create_app
from runqy.web.extensions import db
from runqy.web.models import AdminUser
from tests.dashboard.conftest import csrf_token
from tests.support.redis_server import free_port
from tests.support.waitress_thread import ServingThread

EMAIL = "ops@example.com"
OLD_PASSWORD = "old password 1"
NEW_PASSWORD = "brand new password 2"
API_KEY = "admin-cli-test-key-0123456789"


@pytest.fixture()
def instance(tmp_path: Path, redis_server) -> Path:
    """An instance folder whose SQLite database holds the admin account (made by the server)."""
    folder = tmp_path / "instance"
    app = create_app(Settings(instance_path=folder, api_key=API_KEY, redis_url=redis_server.url))
    with app.app_context():
        admin = AdminUser(email=EMAIL)
        admin.set_password(OLD_PASSWORD)
        db.session.add(admin)
        db.session.commit()
    return folder


def stored_password_is(instance: Path, password: str) -> bool:
    app = create_app(Settings(instance_path=instance, api_key=API_KEY,
                              redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    with app.app_context():
        return db.session.query(AdminUser).filter_by(email=EMAIL).one().check_password(password)


class Browser:
    """Cookies and CSRF tokens over plain HTTP, like a browser without JavaScript."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        return self._send(urllib.request.Request(self.base + path))  # noqa: S310 - loopback http

    def log_in(self, password: str) -> tuple[int, str]:
        _, form = self.get("/monitoring/login")
        token = csrf_token(form)
        body = urllib.parse.urlencode({"csrf_token": token, "email": EMAIL,
                                       "password": password}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback http
            self.base + "/monitoring/login", data=body)
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None  # a 302 is an answer to check, not to follow


@pytest.fixture()
def dashboard(instance: Path, redis_server) -> Iterator[Browser]:
    """A runqy server on the instance's database, over HTTP on loopback."""
    app = create_app(Settings(instance_path=instance, api_key=API_KEY,
                              redis_url=redis_server.url))
    serving = ServingThread(create_server(app, host="127.0.0.1", port=0, threads=4))
    yield Browser(serving.base_url)
    serving.stop()


def clean_environment() -> dict[str, str]:
    """This environment without any server setting, so only the test's choices apply."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("REDIS_", "DATABASE_", "RUNQY_", "SQLITE_"))}


def console_script() -> str:
    """The `runqy` command installed next to this interpreter."""
    return str(Path(sys.executable).with_name("runqy"))


def test_console_script_resets_the_password_and_the_dashboard_accepts_it(instance, tmp_path):
    env = clean_environment()
    # Nothing listens there: the command must not need Redis.
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [console_script(), "admin", "reset-password", "--email", EMAIL.upper(),
         "--password-stdin", "--instance-path", str(instance)],
        input=NEW_PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Password of {EMAIL} reset; 0 open dashboard session(s) ended." in done.stdout
    assert NEW_PASSWORD not in done.stdout + done.stderr


def test_after_reset_login_works_only_with_the_new_password(instance, tmp_path, dashboard):
    assert dashboard.log_in(OLD_PASSWORD)[0] == 302  # a session open before the reset
    assert dashboard.get("/monitoring/")[0] == 200
    env = clean_environment()
    env["RUNQY_INSTANCE_PATH"] = str(instance)  # found like `runqy serve` finds it
    done = subprocess.run(
        [console_script(), "admin", "reset-password", "--email", EMAIL, "--password-stdin"],
        input=NEW_PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 open dashboard session(s) ended" in done.stdout
    status, _ = dashboard.get("/monitoring/")
    assert status == 302, "the session opened before the reset still works"
    status, page = dashboard.log_in(OLD_PASSWORD)
    assert status == 401 and "Wrong email or password." in page
    status, _ = dashboard.log_in(NEW_PASSWORD)
    assert status == 302
    status, page = dashboard.get("/monitoring/")
    assert status == 200 and "<h1>Overview</h1>" in page


@pytest.fixture(autouse=True)
def away_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs read .env from the working directory, as `runqy serve` does."""
    monkeypatch.chdir(tmp_path)


def run_cli(args: list[str], user_input: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["admin", "reset-password", *args], input=user_input)
    return result.exit_code, result.output


def test_prompt_asks_twice_and_repeats_until_both_entries_match(instance):
    code, output = run_cli(["--email", EMAIL, "--instance-path", str(instance)],
                           f"{NEW_PASSWORD}\ntypo\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert code == 0, output
    assert output.count("New password") == 2 and output.count("Repeat for confirmation") == 2
    assert "do not match" in output
    assert NEW_PASSWORD not in output  # hidden input
    assert stored_password_is(instance, NEW_PASSWORD)


def test_short_password_is_refused_and_nothing_changes(instance):
    code, output = run_cli(["--email", EMAIL, "--password-stdin", "--instance-path",
                            str(instance)], "short\n")
    assert code == 1
    assert "the password must have 8-256 characters" in output
    assert stored_password_is(instance, OLD_PASSWORD)


def test_unknown_email_names_the_admin_account(instance):
    code, output = run_cli(["--email", "someone@example.com", "--password-stdin",
                            "--instance-path", str(instance)], NEW_PASSWORD + "\n")
    assert code == 1
    assert "no admin account with email someone@example.com" in output
    assert f"the admin account is {EMAIL}" in output
    assert stored_password_is(instance, OLD_PASSWORD)


def test_missing_database_says_how_to_create_it(tmp_path):
    code, output = run_cli(["--email", EMAIL, "--password-stdin", "--instance-path",
                            str(tmp_path / "nowhere")], NEW_PASSWORD + "\n")
    assert code == 1
    assert "no database at" in output and "runqy serve" in output
    assert not (tmp_path / "nowhere").exists()
