"""An instance whose JWT secret or CA differs from its cluster's refuses to start."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from hopsworks_api.config import Settings
from hopsworks_api.coordination.lease import Lease
from hopsworks_api.coordination.periodic import LEASE_NAME
from hopsworks_api.coordination.shared_keys import KeyMismatch
from hopsworks_api.main import create_app


@pytest.fixture
def start(settings: Settings) -> Iterator[Callable[..., FastAPI]]:
    """Start another instance on the same DB with some settings changed."""
    apps: list[FastAPI] = []

    def run(**overrides: object) -> FastAPI:
        app = create_app(settings.model_copy(update=overrides))
        apps.append(app)
        return app

    yield run
    for app in apps:
        app.state.runtime.engine.dispose()


def _running(app: FastAPI) -> None:
    """As if the instance served: it holds the periodic lease."""
    rt = app.state.runtime
    assert Lease(rt.sessions, rt.clock, LEASE_NAME, duration_seconds=600).acquire()


def test_another_jwt_secret_is_refused_while_the_cluster_runs(start):
    _running(start())
    with pytest.raises(KeyMismatch, match="same HOPS_JWT_SECRET"):
        start(jwt_secret="another-secret-" + "y" * 32)
    start()  # the cluster's own secret is fine


def test_the_jwt_secret_may_change_when_every_instance_stopped(start):
    start()
    start(jwt_secret="another-secret-" + "y" * 32)  # nobody holds the lease: a new secret
    _running(start(jwt_secret="another-secret-" + "y" * 32))
    with pytest.raises(KeyMismatch):
        start()  # and now the old one is the stranger


def test_a_second_ca_is_refused_even_when_nothing_runs(start, tmp_path):
    start()
    with pytest.raises(KeyMismatch, match="HOPS_CA_DIR"):
        start(shared_ca_dir=tmp_path / "another-ca")
