"""An app that is dropped is freed, with its runtime (engine, CA, backends, threads).

FastAPI caches facts about endpoint callables in process-wide `lru_cache`s; an endpoint
that closes over its app keeps the app alive through that cache. A service process makes
one app, but the test suite makes hundreds: pinned, they held 5 GB in one pytest and
turned garbage collections into 30-second pauses. This test fails if any endpoint (ours
or one FastAPI adds) holds its app again.
"""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from hopsworks_api.main import create_app


def test_a_dropped_app_and_its_runtime_are_freed(settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/api/docs").status_code == 200
        assert client.get("/api/projects").status_code == 401
    runtime = weakref.ref(app.state.runtime)
    app.state.runtime.engine.dispose()
    del app, client
    gc.collect()
    assert runtime() is None, "something still holds the dropped app's runtime"
