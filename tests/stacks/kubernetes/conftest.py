from __future__ import annotations

from pathlib import Path

import pytest

from hops_k8s import meta
from tests.stacks.kubernetes.support import Pki, Run, base_config, make_pki, run_program

STACK_DIR = Path(__file__).resolve().parents[3] / "stacks" / "kubernetes"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a service certificate for the default namespace and three brokers."""
    return make_pki(tmp_path_factory.mktemp("pki"), meta.tls_dns_names("hops", "cluster.local", 3))


@pytest.fixture
def raw(pki: Pki) -> dict[str, str]:
    return base_config(pki)


@pytest.fixture(scope="module")
def deployed(pki: Pki) -> Run:
    """The program run once under mocks with a full configuration (every optional part on,
    KServe's smoke test included)."""
    return run_program(
        base_config(
            pki,
            kserveSmokeTest="true",
            apiAllowedCidrs='["10.0.0.0/8"]',
            apiServiceType="LoadBalancer",
            apiHostnames='["hops.example.org"]',
            storageClass="fast-ssd",
        )
    )
