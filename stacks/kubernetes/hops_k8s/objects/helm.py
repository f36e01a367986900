"""A Helm release as plain data: chart, pinned version, repository, values.

`resources.helm_release` turns it into a `kubernetes.helm.v3.Release` (Helm runs inside
the Kubernetes provider at `pulumi up`; under Pulumi's mocks the release is recorded with its
inputs, never rendered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HelmRelease:
    name: str  # the Helm release name (and the Pulumi resource's)
    namespace: str
    chart: str  # a chart name in `repository`, or an oci:// reference
    version: str  # always pinned
    repository: str | None = None  # None for oci:// charts
    values: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # names of releases installed first
    timeout_seconds: int = 600
