"""Headless Chromium for the page tests: found, or skipped with the reason, or (under CI and
`make test`) a failure, so that the browser tests never go missing silently."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("NEWSQA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--disable-gpu",
    "--disable-quic",
    # Stops Chromium's background lookups of outside hosts: nothing but this machine answers.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def require_browser() -> None:
    """Skip (or fail, where a browser is required) the calling test module without Chromium."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is None and not Path(CHROMIUM).is_file():
        problem = f"no Chromium at {CHROMIUM} (make test installs it with apt-get)"
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("NEWSQA_REQUIRE_BROWSER"):
        pytest.fail(f"browser test: {problem}", pytrace=False)
    pytest.skip(f"browser test skipped: {problem}", allow_module_level=True)
