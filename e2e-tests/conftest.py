"""End-to-end fixtures: one distributed platform per test session."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import DistributedPlatform, cleanup, start_platform  # noqa: E402

CHROMIUM = os.environ.get("HAVEN_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def platform() -> DistributedPlatform:
    running = start_platform()
    yield running
    cleanup(running)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (its own download cannot work here)."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _every_process_still_running(request):
    """After each end-to-end test, every process of the platform must still be running: a
    crash would otherwise show up later as a confusing timeout."""
    yield
    if "platform" not in request.fixturenames:
        return
    running = request.getfixturevalue("platform")
    dead = running.dead()
    if dead:
        details = "\n".join(f"--- {p.name} (exit {p.popen.returncode}) ---\n{p.tail(40)}"
                            for p in dead)
        pytest.fail(f"platform processes died: {[p.name for p in dead]}\n{details}")


def pytest_collection_modifyitems(items):
    for item in items:
        if "e2e-tests" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
