"""The `lab` marker: tests that boot systemd-nspawn hosts (root, ~5 s warm, ~2 min on a
machine with no cached root filesystem). Deselect with ``-m "not lab"``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: boots systemd-nspawn test hosts (needs root; builds a rootfs once)"
    )
