"""`build_backends` imports a cluster client only when the settings choose it.

The embedded install must not load confluent-kafka, PyHive/Thrift or the HTTP clients of
the cluster backends: a package ``__init__`` that re-exports an implementation would load
them on every import of its contract, whatever the settings say. Checked in a fresh
interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hopsworks_api.backends.registry import build_backends
from hopsworks_api.config import Settings

# The cluster clients of the five systems, and the libraries they are built on.
CLUSTER_MODULES = (
    "hopsworks_api.backends.storage.webhdfs",
    "hopsworks_api.backends.hive.hiveserver2",
    "hopsworks_api.backends.kafka.cluster",
    "hopsworks_api.backends.compute.yarn",
    "hopsworks_api.backends.http",
    "hopsworks_api.backends.kubernetes.cluster",
)
CLIENT_LIBRARIES = ("confluent_kafka", "pyhive", "thrift", "thrift_sasl", "httpx")

PROBE = """
import json, sys
from hopsworks_api.backends.registry import build_backends
from hopsworks_api.config import Settings

backends = build_backends(Settings(data_dir=sys.argv[1], _env_file=None, **json.loads(sys.argv[2])))
print(json.dumps({
    "types": sorted(type(b).__name__ for b in vars(backends).values() if b is not None),
    "modules": sorted(sys.modules),
}))
"""


def probe(data_dir: Path, **settings: str) -> dict[str, list[str]]:
    """Build the backends in a fresh interpreter: the classes built, the modules loaded."""
    env_free = {"PATH": "/usr/bin:/bin"}  # no HOPS_* variable of the caller's shell
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(data_dir), json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        env=env_free,
        timeout=120,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", CLUSTER_MODULES + CLIENT_LIBRARIES)
def test_the_checked_names_exist(name: str) -> None:
    """A renamed cluster module would make the check below pass for nothing."""
    assert importlib.util.find_spec(name) is not None


def test_embedded_backends_load_no_cluster_client(tmp_path: Path) -> None:
    result = probe(tmp_path)
    assert result["types"] == [
        "EmbeddedCompute",
        "EmbeddedHive",
        "EmbeddedKafka",
        "EmbeddedKubernetes",
        "EmbeddedRunner",
        "EmbeddedStorage",
    ]
    loaded = set(result["modules"])
    assert loaded.isdisjoint(CLUSTER_MODULES)
    assert {m.split(".")[0] for m in loaded}.isdisjoint(CLIENT_LIBRARIES)


def test_a_chosen_cluster_client_is_loaded(tmp_path: Path) -> None:
    """The same probe sees a cluster client when one is chosen (no connection is made)."""
    result = probe(tmp_path, compute_backend="yarn", yarn_url="http://127.0.0.1:9")
    assert "YarnCompute" in result["types"]
    assert "hopsworks_api.backends.compute.yarn" in result["modules"]
    assert "hopsworks_api.backends.kafka.cluster" not in result["modules"]


@pytest.mark.parametrize(
    "earlier",
    [
        {"storage_backend": "local", "hive_backend": "local", "compute_backend": "local"},
        {"kafka_backend": "none", "kubernetes_backend": "none"},
    ],
)
def test_the_earlier_names_of_the_embedded_backends_still_choose_them(
    tmp_path: Path, earlier: dict[str, str]
) -> None:
    """`local` and `none` were the settings' names before `embedded`; deployed
    configuration files may still say so."""
    settings = Settings(data_dir=tmp_path, **earlier)
    assert {getattr(settings, key) for key in earlier} == {"embedded"}
    backends = build_backends(settings)
    built = [b for b in vars(backends).values() if b is not None]  # no cluster servers
    assert all(type(b).__name__.startswith("Embedded") for b in built)
