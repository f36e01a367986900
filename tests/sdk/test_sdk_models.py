"""The model registry and serving through the unchanged `hopsworks` SDK: a scikit-learn
model saved with the SDK (its files uploaded into `Models/<name>/<version>/Files`, then
registered), read back, deployed (stopped, as Hopsworks deploys), started, asked for
predictions through the platform, stopped and deleted.

The model is trained with the model server's own scikit-learn (the SDK's environment has
none), in the environment tests/api/test_servings.py builds and caches once per machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hopsworks_api.config import Settings
from hopsworks_api.servings import model_server_env
from tests.sdk.conftest import RunSdk, SdkServer

TRAIN = """
import json, sys
import joblib
from sklearn.linear_model import LogisticRegression
X = [[0.0, 0.0], [0.2, 0.1], [0.1, 0.3], [1.0, 1.0], [0.9, 0.8], [0.8, 1.0]]
y = [0, 0, 0, 1, 1, 1]
model = LogisticRegression().fit(X, y)
joblib.dump(model, sys.argv[1])
probe = [[0.05, 0.1], [0.95, 0.9], [0.1, 0.0]]
print(json.dumps({"probe": probe, "expected": model.predict(probe).tolist()}))
"""

SAVE_AND_SERVE = """
mr = project.get_model_registry()
ms = project.get_model_serving()
model = mr.sklearn.create_model("iris", metrics={{"accuracy": 0.97}}, description="irises")
model.save({model_dir!r})
got = mr.get_model("iris", version=1)
result = {{
    "saved": [model.name, model.version],
    "got": [got.name, got.version, got.framework, got.training_metrics, got.description],
    "missing": mr.get_model("iris", version=9),
    "best": mr.get_best_model("iris", "accuracy", "max").version,
    "provenance": got.get_feature_view_provenance(),
}}
deployment = got.deploy(name="iris")
result["deployed"] = deployment.get_state().status
result["redeployed"] = got.deploy(name="iris").id == deployment.id  # the same one, reused
deployment.start(await_running=120)
result["running"] = deployment.get_state().status
result["predictions"] = deployment.predict(data={{"instances": {probe!r}}})
result["by_name"] = ms.get_deployment("iris").model_version
result["listed"] = [d.name for d in ms.get_deployments()]
result["no_deployment"] = ms.get_deployment("nothere")
deployment.stop(await_stopped=60)
result["stopped"] = deployment.get_state().status
deployment.delete()
result["after_delete"] = ms.get_deployment("iris")
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    python = model_server_env.ensure(Settings())  # built once per machine, cached after
    model_dir = tmp_path_factory.mktemp("iris-model")
    trained = subprocess.run(  # the model server's scikit-learn, so the pickle loads
        [str(python), "-c", TRAIN, str(model_dir / "model.pkl")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return model_dir, json.loads(trained.stdout)


def test_a_model_is_saved_deployed_and_served_through_the_sdk(
    run_sdk: RunSdk, sdk_server: SdkServer, trained: tuple[Path, dict]
) -> None:
    model_dir, expected = trained
    run = run_sdk(SAVE_AND_SERVE.format(model_dir=str(model_dir), probe=expected["probe"]))
    result = run.result
    assert result["saved"] == ["iris", 1]
    assert result["got"] == ["iris", 1, "SKLEARN", {"accuracy": 0.97}, "irises"]
    assert result["missing"] is None
    assert result["best"] == 1
    assert result["provenance"] is None  # no feature store: no feature view it came from
    assert result["deployed"] == "Stopped"
    assert result["redeployed"] is True
    assert result["running"] == "Running"
    assert result["predictions"] == {"predictions": expected["expected"]}
    assert result["by_name"] == 1
    assert result["listed"] == ["iris"]
    assert result["no_deployment"] is None
    assert result["stopped"] == "Stopped"
    assert result["after_delete"] is None
    # the platform's own view: the version and its files as the SDK uploaded them
    reply = sdk_server.api.get(f"/api/projects/{sdk_server.project}/models/iris/versions/1")
    assert reply.status_code == 200, reply.text
    assert reply.json()["path"] == "Models/iris/1"
    assert [f["path"] for f in reply.json()["files"]] == ["Files/model.pkl"]
