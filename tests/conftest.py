"""Shared test setup. Tiers: tests/unit (pure, fast), tests/integration (a real broker, see
tests/integration/conftest.py), tests/e2e (the project's processes).

The test dirs have no ``__init__.py``: pytest's default "prepend" import mode puts each test
file's directory on sys.path, so test file basenames must be unique across the whole tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e as ``e2e``, so ``-m "not e2e"`` needs no bookkeeping."""
    e2e = TESTS / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)
