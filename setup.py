"""Ships the top-level templates/ and static/ inside the wheel as runqy/templates, runqy/static.

Everything else about the package is declared in pyproject.toml; this only extends build_py so
an installed server finds its dashboard templates, static files and Swagger UI
(runqy.web.factory.resource_dir looks there first, then at the checkout's top level).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCE_DIRS = ("templates", "static")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in RESOURCE_DIRS:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, Path(self.build_lib) / "runqy" / name,
                                dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithResources})
