"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's
Python package, which bundles its driver: no browser is downloaded. Every test
saves a screenshot under artifacts/screenshots/ (MZSIM_ARTIFACTS_DIR moves it)."""
from __future__ import annotations

import os
import re

import pytest

CHROMIUM = os.environ.get("MZSIM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = os.environ.get("MZSIM_ARTIFACTS_DIR",
                           os.path.join(os.path.dirname(__file__), "..", "..", "artifacts"))


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (or set MZSIM_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in mzsim[test])")
    with sync_api.sync_playwright() as p:  # launch() gives Chromium a fresh temporary profile
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot(tag): save the page as artifacts/screenshots/<test>-<tag>.png and print the path."""
    def take(tag: str = "final") -> str:
        folder = os.path.abspath(os.path.join(ARTIFACTS, "screenshots"))
        os.makedirs(folder, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.node.name}-{tag}") + ".png"
        path = os.path.join(folder, name)
        page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        return path

    return take
