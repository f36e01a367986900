"""Facts the roles' idempotence depends on, read when the operation runs (inside `_if`
callbacks), so they see what earlier operations of the same run did."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host
from pyinfra.api import FactBase


class OutputLines(FactBase[list[str]]):
    """The output lines of a command; none when it fails (the service is not there yet)."""

    def command(self, command: str) -> str:
        return f"( {command} ) 2>/dev/null || true"

    def process(self, output: list[str]) -> list[str]:
        return [line.strip() for line in output]


def lines_of(command: str) -> list[str]:
    return host.get_fact(OutputLines, command=command) or []  # no output: pyinfra says None


def once(check: Callable[[], bool]) -> Callable[[], bool]:
    """`check` evaluated on its first call only: several operations guarded by one question
    (are the accounts missing?) must all see the answer from before the first of them ran."""
    answers: dict[str, bool] = {}

    def cached() -> bool:
        key = host.name
        if key not in answers:
            answers[key] = check()
        return answers[key]

    return cached
