"""Secrets generated on first start: processes starting together all get the same one."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor

from hopsworks_api.security import secret_file_once


def test_racing_first_starts_agree_on_one_complete_secret(tmp_path):
    path = tmp_path / "data" / "jwt.secret"
    racers = 8
    start = threading.Barrier(racers)

    def first_start(_: int) -> str:
        start.wait()
        return secret_file_once(path)

    with ThreadPoolExecutor(racers) as pool:
        seen = set(pool.map(first_start, range(racers)))
    assert seen == {path.read_text().strip()} and len(seen.pop()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt.secret"]  # no staging left over
