"""One pure module per component: functions from `StackConfig` to plain manifests (dicts).

Nothing here talks to Pulumi or a cluster, so every object can be built and checked alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

Manifest = dict[str, Any]


def config_hash(*parts: Mapping[str, Any]) -> str:
    """A digest of non-secret configuration, put on pod templates so that pods restart when
    their ConfigMaps change (a ConfigMap update alone restarts nothing)."""
    text = json.dumps(list(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
