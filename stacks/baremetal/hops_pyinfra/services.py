"""Ansible's handler pattern in pyinfra: a unit is (re)started only when an operation that
feeds it changed something, and waits for a port run only after such a (re)start, so a
second run with nothing to do changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed


def converge(unit: str, changes: Sequence[OperationMeta], what: str) -> list[OperationMeta]:
    """Reload systemd and restart `unit` (starting it if stopped) when any of `changes`
    changed; then make sure it is enabled and running. Returns the operations that may
    have (re)started it."""
    reloaded = systemd.service(
        name=f"Configuration changes reach {what}",
        service=unit,
        running=True,
        restarted=True,
        enabled=True,
        daemon_reload=True,
        _if=any_changed(*changes) if changes else lambda: False,
    )
    started = systemd.service(
        name=f"{what} is enabled and running", service=unit, running=True, enabled=True
    )
    return [reloaded, started]


def wait_for_port(
    address: str, port: int | str, timeout: int | str, after: Sequence[OperationMeta], what: str
) -> OperationMeta:
    """Wait until `address:port` accepts connections, when `after` (re)started something."""
    probe = f"until (exec 3<>/dev/tcp/{address}/{port}) 2>/dev/null; do sleep 1; done"
    return server.shell(
        name=f"{what} accepts connections",
        commands=[f"timeout {timeout} bash -c '{probe}'"],
        _if=any_changed(*after),
    )
