"""Code deployment, virtualenvs and the task process command line (worker-protocol.md 4.3-4.4).

`prepare` turns one parent's `DeploymentSpec` into a `PreparedDeployment`: the code directory
(a git checkout or a local path), a reused-or-created virtualenv with the requirements
installed (skipped while their SHA-256 is unchanged), the SDK made importable, and the argv and
environment to start task processes with. Workers on one host may share the deployment
directory: each parent is prepared under an exclusive lock file there, so the second worker
waits and then reuses what the first one built.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import runqy
from runqy.worker.registration import DeploymentSpec
from runqy.worker.settings import SECRET_ENV, WorkerSettings

RESERVED_ENV = ("PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH")
_STAMP = ".runqy-requirements.sha256"
_SDK_DIR = "runqy-sdk"
GIT_TIMEOUT = 600


class DeploymentError(Exception):
    """The deployment cannot be prepared; the worker exits 1 with this message."""


@dataclass(frozen=True)
class PreparedDeployment:
    """Everything needed to start a task process of one parent."""

    parent: str
    code_dir: Path
    venv: Path
    argv: tuple[str, ...]
    env: Mapping[str, str]
    mode: str
    startup_timeout: float
    redis_storage: bool


Warn = Callable[[str], None]


def prepare(
    parent: str,
    spec: DeploymentSpec,
    vaults: Mapping[str, str],
    settings: WorkerSettings,
    warn: Warn,
) -> PreparedDeployment:
    deployment_dir = settings.deployment_dir.resolve()
    with _exclusive(deployment_dir / f".{parent}.lock"):
        if spec.git_url:
            token = spec.git_token or settings.git_token
            checkout = deploy_git(spec, deployment_dir / parent, token, settings.git_ssh_key, warn)
        else:
            checkout = Path(spec.path or "").resolve()
            if not checkout.is_dir():
                raise DeploymentError(f"deployment path {checkout} does not exist")
        code_dir = checkout / spec.code_path if spec.code_path else checkout
        if not code_dir.is_dir():
            raise DeploymentError(f"code directory {code_dir} does not exist")
        venv = ensure_venv(deployment_dir / ".venvs" / parent, settings.use_system_site_packages)
        install_requirements(venv, code_dir / spec.requirements_file)
        ensure_sdk(venv)
    env = task_environment(parent, spec, vaults, venv, settings.worker_id, warn)
    argv = task_command(spec.startup_cmd, venv, env["PATH"])
    return PreparedDeployment(
        parent=parent, code_dir=code_dir, venv=venv, argv=argv, env=env, mode=spec.mode,
        startup_timeout=spec.startup_timeout_secs, redis_storage=spec.redis_storage,
    )


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_file`. flock locks belong to the open file, so this
    excludes other threads of this process as well as other worker processes on the host."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


# -- git ----------------------------------------------------------------------------------------


def _with_token(url: str, token: str | None) -> str:
    if not token or not url.startswith("https://"):
        return url
    parts = urllib.parse.urlsplit(url)
    netloc = f"x-access-token:{urllib.parse.quote(token, safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


class _Git:
    def __init__(self, token: str | None, ssh_key: str) -> None:
        self.token = token
        self.env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if ssh_key:
            self.env["GIT_SSH_COMMAND"] = (
                f"ssh -i {shlex.quote(ssh_key)} -o IdentitiesOnly=yes "
                "-o StrictHostKeyChecking=accept-new"
            )

    def mask(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
            text = text.replace(urllib.parse.quote(self.token, safe=""), "***")
        return text

    def run(self, *args: str, cwd: Path | None = None) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                timeout=GIT_TIMEOUT, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeploymentError(self.mask(f"git {args[0]} failed: {exc}")) from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DeploymentError(self.mask(f"git {args[0]} failed: {' '.join(detail)}"))
        return done.stdout.strip()


def deploy_git(
    spec: DeploymentSpec, target: Path, token: str | None, ssh_key: str, warn: Warn
) -> Path:
    """Clone, fast-forward or re-clone `target` per the table of 4.3."""
    assert spec.git_url
    git = _Git(token, ssh_key)
    clean_url = _without_credentials(spec.git_url)
    if target.exists():
        if not (target / ".git").exists():
            raise DeploymentError(f"refusing to overwrite {target}: not a git checkout")
        origin = _without_credentials(git.run("remote", "get-url", "origin", cwd=target))
        branch = git.run("rev-parse", "--abbrev-ref", "HEAD", cwd=target)
        if origin == clean_url and branch == spec.branch:
            try:
                git.run("pull", "--ff-only", _with_token(spec.git_url, token), spec.branch,
                        cwd=target)
            except DeploymentError as exc:
                warn(f"{exc}; running the code already checked out in {target}")
            return target
        fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        _clone(git, spec, fresh / "checkout", clean_url)
        old = target.with_name(f".{target.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        (fresh / "checkout").rename(target)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _clone(git, spec, target, clean_url)
    return target


def _clone(git: _Git, spec: DeploymentSpec, target: Path, clean_url: str) -> None:
    url = _with_token(spec.git_url or "", git.token)
    args = ["clone", "--depth", "1", "--branch", spec.branch]
    if spec.code_path:
        args += ["--filter=blob:none", "--sparse"]
    try:
        git.run(*args, url, str(target))
        if spec.code_path:
            git.run("sparse-checkout", "set", spec.code_path, cwd=target)
        git.run("remote", "set-url", "origin", clean_url, cwd=target)
    except DeploymentError:
        shutil.rmtree(target, ignore_errors=True)
        raise


# -- virtualenv -------------------------------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _python_works(python: Path, code: str = "pass") -> bool:
    # Run from the venv directory: `python -c` puts the working directory on sys.path.
    try:
        return subprocess.run(
            [str(python), "-c", code], capture_output=True, timeout=60, check=False,
            cwd=python.parent.parent if python.parent.parent.is_dir() else None,
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_venv(venv: Path, system_site_packages: bool) -> Path:
    """Reuse the venv while its python runs; (re)create it otherwise, without pip."""
    if _python_works(_venv_python(venv)):
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "venv", "--without-pip"]
    if system_site_packages:
        args.append("--system-site-packages")
    done = subprocess.run([*args, str(venv)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeploymentError(f"cannot create the virtualenv {venv}: {done.stderr.strip()}")
    return venv


def install_requirements(venv: Path, requirements: Path) -> bool:
    """pip install -r, skipped while the file's SHA-256 matches the last success. True if run."""
    if not requirements.is_file():
        return False
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / _STAMP
    if stamp.exists() and stamp.read_text().strip() == digest:
        return False
    python = str(_venv_python(venv))
    steps = []
    if not _python_works(_venv_python(venv), "import pip"):
        steps.append([python, "-m", "ensurepip", "--default-pip"])
    steps.append([python, "-m", "pip", "install", "--disable-pip-version-check", "-r",
                  str(requirements)])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False,
                              cwd=requirements.parent)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise DeploymentError(f"pip install -r {requirements} failed:\n{tail}")
    stamp.write_text(digest)
    return True


def ensure_sdk(venv: Path) -> None:
    """Make the SDK importable in the venv when its requirements did not provide it.

    The copy lives in a directory named by the digest of its content, staged aside and renamed
    into place, and the .pth file is replaced atomically: task processes of another worker
    sharing this venv never see a copy half-written or deleted.
    """
    copy_root = venv / _SDK_DIR
    if not copy_root.exists() and _python_works(_venv_python(venv), "import runqy.sdk"):
        return
    source = Path(runqy.__file__).parent
    # Only the SDK: runqy/__init__.py imports nothing but runqy.sdk, which is stdlib-only.
    files = [Path("__init__.py"), *(m.relative_to(source) for m in (source / "sdk").glob("*.py"))]
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0".encode() + (source / name).read_bytes())
    copy = copy_root / digest.hexdigest()[:16]
    if not copy.exists():
        copy_root.mkdir(exist_ok=True)
        staging = copy_root / f".{copy.name}.staging"  # left over if a worker died here
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "runqy" / "sdk").mkdir(parents=True)
        for name in files:
            shutil.copy2(source / name, staging / "runqy" / name)
        staging.rename(copy)
    pth = _site_packages(venv) / "runqy-sdk.pth"
    if not pth.is_file() or pth.read_text() != f"{copy}\n":
        staged = pth.with_suffix(".tmp")
        staged.write_text(f"{copy}\n")
        staged.replace(pth)


def _site_packages(venv: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib", vars={"base": ""}).lstrip("/"))
    site = venv / relative
    site.mkdir(parents=True, exist_ok=True)
    return site


# -- task processes ---------------------------------------------------------------------------


def task_environment(
    parent: str,
    spec: DeploymentSpec,
    vaults: Mapping[str, str],
    venv: Path,
    worker_id: str,
    warn: Warn,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The task process environment, built in the order of 4.4 (later steps win)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in SECRET_ENV}
    for source, values in (("deployment.env", spec.env), ("vault", vaults)):
        for key, value in values.items():
            if key in RESERVED_ENV:
                warn(f"{source} sets the reserved variable {key}; ignored")
            else:
                env[key] = value
    env.update({
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
        "PYTHONUNBUFFERED": "1",
        "RUNQY_QUEUE": parent,
        "RUNQY_WORKER_ID": worker_id,
        "RUNQY_MODE": spec.mode,
        "RUNQY_PROTOCOL": "1",
    })
    env.pop("PYTHONHOME", None)
    return env


def task_command(startup_cmd: str, venv: Path, path: str) -> tuple[str, ...]:
    """Split `startup_cmd` like a POSIX shell; `python`/`python3` mean the venv's python."""
    try:
        argv = shlex.split(startup_cmd)
    except ValueError as exc:
        raise DeploymentError(f"cannot parse startup_cmd {startup_cmd!r}: {exc}") from None
    if not argv:
        raise DeploymentError("startup_cmd is empty")
    if argv[0] in ("python", "python3"):
        argv[0] = str(_venv_python(venv))
    elif "/" not in argv[0]:
        found = shutil.which(argv[0], path=path)
        if found is None:
            raise DeploymentError(f"startup_cmd program {argv[0]!r} not found on PATH")
        argv[0] = found
    return tuple(argv)
