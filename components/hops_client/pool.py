"""Running transfer pieces on a few threads: the first failure stops the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait


def run_all(workers: int, tasks: Iterable[Callable[[], None]]) -> None:
    """Every task, `workers` at a time. On the first failure (or Ctrl-C) the tasks not yet
    started are dropped and the running ones finish, so what they wrote is consistent and
    a re-run resumes from it; then the failure is raised."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(task) for task in tasks]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if (error := future.exception()) is not None:
                raise error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
