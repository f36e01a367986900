"""Service settings for tests: cheap but real password hashing, a fixed JWT secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hopsworks_api.config import Settings


def test_settings(data_dir: Path, db_url: str, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=db_url,
        jwt_secret="test-secret-" + "x" * 32,
        password_time_cost=1,
        password_memory_kib=64,
        **overrides,
    )


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
