"""Fault tests. Those marked ``soak`` take minutes or disturb the shared PostgreSQL (they restart it):
they are skipped unless ``HERALD_SOAK=1`` (``make soak``)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HERALD_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: set HERALD_SOAK=1 (make soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
