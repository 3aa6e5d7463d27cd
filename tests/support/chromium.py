"""Headless Chromium for the page tests (Debian's chromium + chromium-driver, via Selenium):
the driver, a polling wait, and the screenshot-and-console check every page test ends with.

The `browser` fixture (in `fixtures.py`) opens one driver per test with `open_chromium()`.
Selenium is imported lazily: collecting the suite does not need it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.helpers import ROOT

__all__ = [
    "ARTIFACTS",
    "CHROMEDRIVER",
    "CHROMIUM",
    "needs_chromium",
    "open_chromium",
    "screenshot_and_console_check",
    "wait_for",
]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = ROOT / "test-artifacts"

#: A module's `pytestmark` when its tests drive Chromium.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@contextmanager
def open_chromium() -> Iterator[Any]:
    """A headless Chromium with a profile of its own, its console and DevTools network
    events recorded (`get_log("browser")`, `get_log("performance")`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,1200",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # performance: the DevTools network events, where the WebSocket frames received are.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def screenshot_and_console_check(
    browser: Any, name: str, allowed: Callable[[str], bool] = lambda message: False
) -> None:
    """Writes the page's screenshot to test-artifacts/ and checks the console: no error but
    those `allowed` says a page may log (a refused WebSocket while a gateway was down, a
    401 before an operator gave the token)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert all(allowed(e["message"]) for e in errors), errors
