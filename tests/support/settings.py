"""Service settings for tests: cheap but real password hashing, a fixed JWT secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hopsworks_api.config import Settings


def test_settings(data_dir: Path, db_url: str, **overrides: Any) -> Settings:
    """The journal worker and the scheduler are off: a test that wants them runs a pass
    explicitly (or turns them on), so no background pass races what a test asserts."""
    overrides.setdefault("journal_interval_seconds", 0)
    overrides.setdefault("scheduler_interval_seconds", 0)
    return Settings(
        data_dir=data_dir,
        database_url=db_url,
        jwt_secret="test-secret-" + "x" * 32,
        password_time_cost=1,
        password_memory_kib=64,
        **overrides,
    )


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
