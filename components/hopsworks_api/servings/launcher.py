"""The model server's program: run by the model-server environment's interpreter inside the
job runner's sandbox, never imported by the service.

It reads the model's file once, checks its bytes against the SHA-256 the registry recorded
(so what is served is exactly what was registered, even if the file changes after the
service's own check), loads the model from those bytes, and serves it with KServe's Python
model server (the v1 and v2 protocols KServe serves in a cluster) on a unix socket in the
run's scratch directory: the sandbox has no network, and only the service reaches the
socket. KServe's `ModelServer` only listens on TCP ports, so its REST server is started
here with uvicorn's `uds` instead; the application, routes and error handling are KServe's.

Usage: python launcher.py '<json: name, socket, framework, directory, file, sha256>'
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import types
from pathlib import Path
from typing import Any


def _verified(path: Path, sha256: str) -> bytes:
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        sys.exit(
            f"model file {path.name} changed since it was registered "
            f"(sha256 {actual}, registered {sha256}); refusing to serve it"
        )
    return data


def _sklearn(data: bytes) -> Any:
    import joblib

    estimator = joblib.load(io.BytesIO(data))
    if not callable(getattr(estimator, "predict", None)):
        sys.exit(f"the model file holds a {type(estimator).__name__}, which has no predict()")
    return estimator


def _python(data: bytes, directory: Path) -> Any:
    """`predictor.py` defines a class `Predictor` (or exactly one class with a `predict`
    method); it is built with the version's directory, if its constructor takes one."""
    module = types.ModuleType("predictor")
    module.__file__ = str(directory / "predictor.py")
    sys.path.insert(0, str(directory))
    exec(compile(data, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the member's own model code, in their sandbox
    found = module.__dict__.get("Predictor")
    if found is None:
        classes = [
            v
            for v in module.__dict__.values()
            if isinstance(v, type) and v.__module__ == "predictor" and hasattr(v, "predict")
        ]
        if len(classes) != 1:
            sys.exit("predictor.py must define a class Predictor with a predict(instances) method")
        found = classes[0]
    try:
        return found(str(directory))
    except TypeError:
        return found()


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.argv = sys.argv[:1]  # kserve parses the command line when it is imported
    directory = Path(config["directory"])
    data = _verified(directory / config["file"], config["sha256"])
    predictor = _sklearn(data) if config["framework"] == "sklearn" else _python(data, directory)

    import kserve
    from kserve.errors import InvalidInput
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.rest.server import RESTServer

    class Served(kserve.Model):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.ready = True

        def predict(self, payload: Any, headers: Any = None) -> dict[str, Any]:
            if isinstance(payload, bytes | str):  # KServe hands a custom model the raw body
                try:
                    payload = json.loads(payload)
                except ValueError as exc:
                    raise InvalidInput(f"the body is not JSON: {exc}") from exc
            if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
                raise InvalidInput('the body must be {"instances": [...]}')
            try:
                result = predictor.predict(payload["instances"])
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                # what the model refuses is the caller's mistake: 400, not 500
                raise InvalidInput(f"{type(exc).__name__}: {exc}") from exc
            if hasattr(result, "tolist"):
                result = result.tolist()
            return {"predictions": list(result)}

    server = kserve.ModelServer(enable_grpc=False, workers=1, enable_latency_logging=False)
    server.register_model(Served(config["name"]))
    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        server.dataplane,
        server.model_repository_extension,
        http_port=0,
        workers=1,
        grace_period=2,
    )
    rest.config.uds = config["socket"]
    asyncio.run(rest.start())


if __name__ == "__main__":
    main()
