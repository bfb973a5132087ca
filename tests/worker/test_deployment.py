"""Code deployment and virtualenvs with real git (local bare repositories) and real venvs.

Rows 10-15 of worker-protocol.md section 10, plus the task environment of 4.4.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runqy.worker.deployment import (
    DeploymentError,
    PreparedDeployment,
    deploy_git,
    ensure_venv,
    install_requirements,
    prepare,
    task_environment,
)
from runqy.worker.registration import DeploymentSpec
from tests.worker.harness import APPS, fast_settings


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def bare_repo(tmp_path) -> Path:
    """A bare repository with branches `main` (v1) and `next` (v2)."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    git("config", "user.email", "t@example.com", cwd=work)
    git("config", "user.name", "t", cwd=work)
    (work / "app").mkdir()
    (work / "app" / "version.txt").write_text("v1\n")
    (work / "docs").mkdir()
    (work / "docs" / "other.txt").write_text("not in the sparse checkout\n")
    git("add", ".", cwd=work)
    git("commit", "-qm", "v1", cwd=work)
    git("checkout", "-qb", "next", cwd=work)
    (work / "app" / "version.txt").write_text("v2\n")
    git("commit", "-qam", "v2", cwd=work)
    bare = tmp_path / "repo.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def spec_for(url: str, branch: str = "main", code_path: str | None = None) -> DeploymentSpec:
    return DeploymentSpec(startup_cmd="python main.py", git_url=url, branch=branch,
                          code_path=code_path)


def test_clone_pull_and_branch_change(bare_repo, tmp_path):
    """Rows 11 and 12: a failing pull keeps the code; a new branch gives a fresh clone."""
    warnings: list[str] = []
    target = tmp_path / "deploy" / "app"
    url = f"file://{bare_repo}"
    deploy_git(spec_for(url, code_path="app"), target, None, "", warnings.append)
    assert (target / "app" / "version.txt").read_text() == "v1\n"
    assert not (target / "docs").exists()  # sparse on code_path
    deploy_git(spec_for(url), target, None, "", warnings.append)
    assert warnings == []
    moved = bare_repo.rename(bare_repo.with_name("moved.git"))
    deploy_git(spec_for(url), target, None, "", warnings.append)
    assert len(warnings) == 1 and "git pull failed" in warnings[0]
    assert (target / "app" / "version.txt").read_text() == "v1\n"
    moved.rename(bare_repo)
    deploy_git(spec_for(url, branch="next"), target, None, "", warnings.append)
    assert (target / "app" / "version.txt").read_text() == "v2\n"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=target) == "next"


def test_row10_failed_clone_leaves_nothing_and_masks_the_token(tmp_path):
    target = tmp_path / "deploy" / "app"
    token = "s3cr3t-token-value"
    with pytest.raises(DeploymentError) as caught:
        deploy_git(spec_for("https://127.0.0.1:9/acme/none.git"), target, token, "",
                   lambda _: None)
    assert token not in str(caught.value) and "git clone failed" in str(caught.value)
    assert not target.exists()


def test_refuses_to_overwrite_a_directory_that_is_not_a_checkout(tmp_path, bare_repo):
    target = tmp_path / "deploy" / "app"
    target.mkdir(parents=True)
    with pytest.raises(DeploymentError, match="not a git checkout"):
        deploy_git(spec_for(f"file://{bare_repo}"), target, None, "", lambda _: None)


def test_row13_missing_path_deployment(tmp_path):
    settings = fast_settings(tmp_path / "deploy")
    spec = DeploymentSpec(startup_cmd="python main.py", path=str(tmp_path / "absent"))
    with pytest.raises(DeploymentError, match="does not exist"):
        prepare("app", spec, {}, settings, lambda _: None)


def test_rows14_15_pip_failure_tail_and_unchanged_requirements_skip(deployment_dir, tmp_path):
    venv = ensure_venv(deployment_dir / ".venvs" / "pipcheck", True)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install\n")
    assert install_requirements(venv, requirements) is True
    assert install_requirements(venv, requirements) is False  # same SHA-256: pip not run
    requirements.write_text("this is not a requirement ===\n")
    with pytest.raises(DeploymentError) as caught:
        install_requirements(venv, requirements)
    assert "pip install -r" in str(caught.value)
    assert "Invalid requirement" in str(caught.value) or "error" in str(caught.value).lower()


def test_task_environment_drops_worker_secrets_and_reserved_names(tmp_path):
    warnings: list[str] = []
    spec = DeploymentSpec(startup_cmd="python main.py", path=".",
                          env={"MODEL": "small", "PATH": "/evil", "SHARED": "from-env"})
    env = task_environment(
        "app", spec, {"SHARED": "from-vault", "HOME": "/x"}, tmp_path / "venv", "w-1",
        warnings.append,
        base={"RUNQY_API_KEY": "admin", "RUNQY_WORKER_API_KEY": "w", "PATH": "/usr/bin",
              "LANG": "C"},
    )
    assert "RUNQY_API_KEY" not in env and "RUNQY_WORKER_API_KEY" not in env
    assert env["MODEL"] == "small" and env["SHARED"] == "from-vault" and env["LANG"] == "C"
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}:/usr/bin"
    assert (env["RUNQY_QUEUE"], env["RUNQY_WORKER_ID"], env["RUNQY_PROTOCOL"]) == \
        ("app", "w-1", "1")
    assert len(warnings) == 2


def prepare_together(spec: DeploymentSpec, deployment_dir: Path, workers: int):
    """`workers` threads released at once, each preparing `spec` like a starting worker.
    flock locks belong to the open file, so threads contend exactly as processes do."""
    start = threading.Barrier(workers)

    def worker_start(_: int) -> PreparedDeployment:
        start.wait(10)
        return prepare("app", spec, {}, fast_settings(deployment_dir), lambda _: None)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(worker_start, range(workers)))


def test_workers_sharing_a_deployment_dir_prepare_one_venv_at_once(tmp_path):
    """Workers on one host started together prepare the same parent in the same deployment
    dir: every one comes up (none exits on a venv or SDK copy another is writing), they share
    one venv and task code there imports the SDK. Rounds of 4 make the race near-certain
    (the old code failed every run)."""
    spec = DeploymentSpec(startup_cmd="python main.py", path=str(APPS / "behave"))
    for round_ in range(5):
        deployment_dir = tmp_path / f"deploy-{round_}"
        prepared = prepare_together(spec, deployment_dir, 4)
        venv = (deployment_dir / ".venvs" / "app").resolve()
        assert {p.venv for p in prepared} == {venv}
        ran = subprocess.run(
            [prepared[0].argv[0], "-c", "import runqy; from runqy import task; "
             "print(runqy.__file__)"],
            env=dict(prepared[0].env), cwd=prepared[0].code_dir, capture_output=True,
            text=True, timeout=60, check=False)
        assert ran.returncode == 0, ran.stderr
        sdk_file = Path(ran.stdout.strip())
        assert sdk_file.is_relative_to(venv / "runqy-sdk")
    # A worker joining later reuses the venv and leaves the SDK copy that the task processes
    # of the running workers import from in place, not rewritten.
    copied = sdk_file.stat()
    assert prepare_together(spec, deployment_dir, 1)[0].venv == venv
    assert (sdk_file.stat().st_ino, sdk_file.stat().st_ctime_ns) == \
        (copied.st_ino, copied.st_ctime_ns)
