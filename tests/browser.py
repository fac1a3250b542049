"""Headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright (no browser download).
A test that needs it is skipped, with the reason, where either is missing (`apt-get install chromium`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def chromium(offline: bool = False) -> Iterator[Any]:
    """A new browser context (pages share cookies); with `offline`, every request leaves nothing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=offline)
            yield context
            context.close()
        finally:
            browser.close()


def press(page: Any, key: str) -> None:
    """Press `key` and wait for the page it submits to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def sign_in(page: Any, url: str, model: str, name: str, password: str) -> None:
    """Open `model`'s coding page, be sent to the sign-in page, and sign in by keyboard."""
    page.goto(f"{url}/review/{model}")
    assert "/sign-in" in page.url
    page.wait_for_function("document.activeElement && document.activeElement.id === 'name'")  # autofocus
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    press(page, "Enter")
