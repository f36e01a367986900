"""Every system a project lives in, in the order a change reaches them. Adding a system is
one module with a `converge(run)` and one line here."""

from __future__ import annotations

from collections.abc import Callable

from hopsworks_api.provisioning.systems import compute, hive, kafka, kubernetes, storage
from hopsworks_api.provisioning.systems.base import Pass

SYSTEMS: tuple[tuple[str, Callable[[Pass], None]], ...] = (
    (storage.SYSTEM, storage.converge),
    (hive.SYSTEM, hive.converge),
    (compute.SYSTEM, compute.converge),
    (kafka.SYSTEM, kafka.converge),
    (kubernetes.SYSTEM, kubernetes.converge),
)
