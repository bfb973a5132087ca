"""Headless Chromium for browser tests: Debian's `chromium` driven by Playwright's sync API.

Playwright's own browser download does not work in this environment, so the launcher always
points Playwright at the system binary; the flags keep Chromium from touching the network or a
GPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
)


def chromium_path() -> str:
    """The `chromium` on PATH; a clear error when it is missing."""
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("browser tests need Debian's `chromium` on PATH")
    return found


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Start one headless Chromium for the duration of the block."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
