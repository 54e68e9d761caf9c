"""Headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright, and screenshots as test artifacts."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HERALD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VENDOR = Path(__file__).resolve().parents[2] / "src" / "herald" / "web" / "static" / "vendor"


def skip_without_browser() -> pytest.MarkDecorator:
    reason = ""
    if importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    elif not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)"
    elif not (VENDOR / "htmx.min.js").exists():
        reason = "front-end libraries missing: run `make install` (npm ci + copy into static/vendor)"
    return pytest.mark.skipif(bool(reason), reason=reason)


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
