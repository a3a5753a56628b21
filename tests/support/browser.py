"""Headless Chromium (Debian's package) through Playwright, launched the same way by every
browser test; missing under CI is a failure (tests/support/services.py `missing`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.services import missing, require_module

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, closed after the block."""
    playwright = require_module("playwright.sync_api", "Playwright is not installed (dev extra): run scripts/setup.sh")
    if not os.path.exists(CHROMIUM):
        missing("Debian's chromium is not installed: run scripts/setup.sh")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()
