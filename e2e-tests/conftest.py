"""End-to-end fixtures: one distributed platform per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import DistributedPlatform, cleanup, start_platform  # noqa: E402


@pytest.fixture(scope="session")
def platform() -> DistributedPlatform:
    running = start_platform()
    yield running
    cleanup(running)


def pytest_collection_modifyitems(items):
    for item in items:
        if "e2e-tests" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
