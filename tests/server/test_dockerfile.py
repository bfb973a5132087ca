"""The Dockerfile's build stage, replayed without Docker (no engine runs here): the files it
COPYs must be enough to build the wheel it installs, and the image must run as a non-root user
with `runqy serve` as its command and a /healthz health check."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def build_stage_sources() -> list[str]:
    """The sources of every COPY before the second FROM (the build stage)."""
    build_stage = DOCKERFILE.split("\nFROM ", 2)[1]
    sources: list[str] = []
    for line in build_stage.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.extend(line.split()[1:-1])
    return sources


def test_the_build_stage_copies_what_the_wheel_build_needs(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for source in build_stage_sources():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, context / source)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = (tmp_path / "wheels").iterdir()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # The licence must ship with the image's package (pyproject.toml license-files).
    assert "runqy-0.3.0.dist-info/licenses/LICENSE" in names
    assert "runqy/templates/monitoring/base.html" in names
    assert "runqy/static/vendor/htmx/htmx.min.js" in names


def test_the_image_runs_runqy_serve_as_a_non_root_user_with_a_health_check():
    final_stage = DOCKERFILE.split("\nFROM ", 2)[2]
    assert "\nUSER runqy\n" in final_stage
    assert 'ENTRYPOINT ["runqy"]' in final_stage and 'CMD ["serve"]' in final_stage
    assert "HEALTHCHECK" in final_stage and "/healthz" in final_stage
