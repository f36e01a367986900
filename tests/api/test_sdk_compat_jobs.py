"""The SDK compatibility routes for jobs, the model registry and serving, in process: the
shapes the `hopsworks` SDK reads, the error numbers it tests for, and the refusals of what
the platform does not do (the real SDK runs the same flows in tests/sdk/)."""

from __future__ import annotations

import json
import shlex
import time

from tests.support.api import Api

SDK = "/hopsworks-api/api"
DEADLINE_S = 60
JSON = {"content-type": "application/json"}
HELLO = b"import sys\nprint('args', sys.argv[1:])\n"


def project_id(api: Api) -> int:
    reply = api.call("owner", "GET", "/api/projects/demo")
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def sdk_error(reply, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"errorCode", "errorMsg", "usrMsg"}, body
    return body


def test_jobs_are_created_run_and_read_as_the_sdk_expects(api: Api) -> None:
    pid = project_id(api)
    jobs = f"{SDK}/project/{pid}/jobs"
    config = api.call("scientist", "GET", f"{jobs}/python/configuration").json()
    assert config["type"] == "pythonJobConfiguration" and "appPath" not in config
    assert sdk_error(api.call("scientist", "GET", f"{jobs}/docker/configuration"), 400)
    for name in ("hello", "no such job"):
        assert sdk_error(api.call("scientist", "GET", f"{jobs}/{name}"), 404)["errorCode"] == 130009
    assert api.call("outsider", "GET", jobs).status_code == 404  # the project is not theirs
    assert api.upload("scientist", "demo", "Resources", "hello.py", HELLO).status_code == 201

    # appPath: only an hdfs:///Projects/<this project>/<dataset>/<file> URL of a file
    for path in (
        "hdfs:///Projects/other/Resources/hello.py",
        "/Resources/hello.py",
        "hdfs:///Projects/demo/Resources/missing.py",
    ):
        bad = api.call("scientist", "PUT", f"{jobs}/hello", json={**config, "appPath": path})
        assert sdk_error(bad, 400)["errorCode"] != 130009
    for cores in ("many", "nan", 10**400, 1e300):
        resources = {**config, "resourceConfig": {"cores": cores}}
        assert sdk_error(api.call("scientist", "PUT", f"{jobs}/hello", json=resources), 400)
    docker = {"type": "dockerJobConfiguration", "appPath": "hdfs:///Projects/demo/x"}
    assert sdk_error(api.call("scientist", "PUT", f"{jobs}/hello", json=docker), 400)

    config["appPath"] = "hdfs:///Projects/demo/Resources/hello.py"
    config["defaultArgs"] = "one"
    created = api.call("scientist", "PUT", f"{jobs}/hello", json=config)
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["name"], job["jobType"], job["config"]["appPath"]) == (
        "hello",
        "PYTHON",
        config["appPath"],
    )
    assert isinstance(job["id"], int) and job["creator"]["email"] == Api.email("scientist")
    config["defaultArgs"] = "two"
    updated = api.call("scientist", "PUT", f"{jobs}/hello", json=config)
    assert updated.status_code == 200 and updated.json()["config"]["defaultArgs"] == "two"
    assert api.call("scientist", "GET", jobs).json()["count"] == 1

    # arguments come as text/plain, split as a shell would
    started = api.call(
        "scientist",
        "POST",
        f"{jobs}/hello/executions",
        content=b"x 'y z'",
        headers={"content-type": "text/plain"},
    )
    assert started.status_code == 201, started.text
    execution = started.json()
    deadline = time.monotonic() + DEADLINE_S
    while execution["finalStatus"] == "UNDEFINED":
        assert time.monotonic() < deadline, execution
        time.sleep(0.1)
        execution = api.call("scientist", "GET", f"{jobs}/hello/executions/{execution['id']}")
        execution = execution.json()
    assert (execution["state"], execution["finalStatus"]) == ("FINISHED", "SUCCEEDED")
    assert shlex.split(execution["args"]) == ["x", "y z"]
    prefix = f"/Projects/demo/Logs/hello/{execution['id']}/"
    assert execution["stdoutPath"] == prefix + "stdout.log"
    log = api.download("owner", "demo", "Logs", f"hello/{execution['id']}/stdout.log")
    assert log.text == "args ['x', 'y z']\n"
    # a data scientist may download no file, but reads the logs of jobs as the SDK reads them
    logs = f"{SDK}/project/{pid}/dataset"
    stat = api.call("scientist", "GET", f"{logs}/{prefix}stdout.log").json()
    assert stat["attributes"]["size"] == len(log.content), stat
    got = api.call("scientist", "GET", f"{logs}/download/with_auth/{prefix}stdout.log")
    assert got.status_code == 200 and got.content == log.content
    other = api.call("scientist", "GET", f"{logs}/download/with_auth/{prefix}other.log")
    assert other.status_code in (403, 404)
    assert api.call("outsider", "GET", f"{logs}/{prefix}stdout.log").status_code == 404
    listed = api.call("scientist", "GET", f"{jobs}/hello/executions?limit=1").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == execution["id"]
    stopped = api.call(
        "scientist",
        "PUT",
        f"{jobs}/hello/executions/{execution['id']}/status",
        content=b"state=stopped",
        headers={"content-type": "application/json"},
    )
    assert stopped.status_code == 200 and stopped.json()["state"] == "FINISHED"

    assert api.call("scientist", "DELETE", f"{jobs}/hello").status_code == 204
    assert sdk_error(api.call("scientist", "GET", f"{jobs}/hello"), 404)["errorCode"] == 130009


def test_model_versions_are_registered_in_the_platforms_order(api: Api) -> None:
    pid = project_id(api)
    registries = f"{SDK}/project/{pid}/modelregistries"
    assert api.call("scientist", "GET", registries).json()["items"] == [{"id": pid, "name": "demo"}]
    models = f"{registries}/{pid}/models"
    missing = api.call("scientist", "GET", f"{models}/iris_1")
    assert sdk_error(missing, 404)["errorCode"] == 360000
    other = api.call("scientist", "GET", f"{registries}/{pid + 1000}/models/iris_1")
    assert sdk_error(other, 404)["errorCode"] != 360000
    upload = api.upload("scientist", "demo", "Models", "iris/1/Files/model.pkl", b"pickle")
    assert upload.status_code == 201

    body = {"name": "iris", "version": 1, "framework": "SKLEARN", "metrics": {"acc": "0.5"}}
    # the platform numbers versions itself: 2 is not the next one
    later = api.call("scientist", "PUT", f"{models}/iris_2", json={**body, "version": 2})
    assert sdk_error(later, 409)["usrMsg"].endswith("(save without a version, or with version=1)")
    llm = api.call("scientist", "PUT", f"{models}/iris_1", json={**body, "framework": "LLM"})
    assert sdk_error(llm, 400)
    nan = api.call("scientist", "PUT", f"{models}/iris_1", json={**body, "metrics": {"a": "x"}})
    assert sdk_error(nan, 400)

    created = api.call("scientist", "PUT", f"{models}/iris_1", json=body)
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["id"], model["version"], model["framework"], model["metrics"]) == (
        "iris_1",
        1,
        "SKLEARN",
        {"acc": 0.5},
    )
    assert model["modelRegistryId"] == pid and model["projectName"] == "demo"
    assert api.call("scientist", "PUT", f"{models}/iris_1", json=body).status_code == 200
    changed = api.call("scientist", "PUT", f"{models}/iris_1", json={**body, "metrics": {}})
    assert sdk_error(changed, 409)
    platform = api.call("scientist", "GET", "/api/projects/demo/models/iris/versions/1").json()
    assert platform["path"] == "Models/iris/1" and platform["files"][0]["path"] == "Files/model.pkl"

    found = api.call("scientist", "GET", models, params={"filter_by": "name_eq:iris"}).json()
    assert [m["id"] for m in found["items"]] == ["iris_1"]
    best = api.call(
        "scientist",
        "GET",
        models,
        params={"filter_by": "name_eq:iris", "sort_by": "acc:desc", "limit": 1},
    )
    assert best.json()["count"] == 1
    assert api.call("scientist", "GET", f"{models}/iris_1/provenance/links").json() == {
        "upstream": [],
        "downstream": [],
    }
    assert api.call("scientist", "GET", f"{models}/iris_1/tags").json()["count"] == 0
    store = api.call("scientist", "GET", f"{SDK}/project/{pid}/featurestores/demo_featurestore")
    assert store.json()["featurestoreId"] == pid and store.json()["onlineEnabled"] is False
    assert api.call("scientist", "GET", f"{models}/iris_x").status_code == 422
    assert api.call("outsider", "GET", f"{models}/iris_1").status_code == 404

    assert api.call("owner", "DELETE", f"{models}/iris_1").status_code == 204
    assert sdk_error(api.call("scientist", "GET", f"{models}/iris_1"), 404)["errorCode"] == 360000


def test_serving_answers_what_the_sdk_reads_before_it_deploys(api: Api) -> None:
    pid = project_id(api)
    base = f"{SDK}/project/{pid}"
    for name, value in (("kube_kserve_installed", "true"), ("kube_serving_min_num_instances", "1")):
        reply = api.call("scientist", "GET", f"{SDK}/variables/{name}")
        assert reply.json() == {"successMessage": value}
    assert api.call("scientist", "GET", f"{base}/inference/endpoints").json() == []
    assert api.call("scientist", "GET", f"{base}/serving").json()["count"] == 0
    for url in (f"{base}/serving/4711", f"{base}/serving?name=iris"):
        assert sdk_error(api.call("scientist", "GET", url), 404)["errorCode"] == 240000
    start = api.call("scientist", "POST", f"{base}/serving/4711?action=START")
    assert sdk_error(start, 404)["errorCode"] == 240000

    deployment = {"name": "iris", "modelName": "iris", "modelVersion": 1, "modelServer": "PYTHON"}
    for refused in (
        {**deployment, "modelServer": "TENSORFLOW_SERVING"},
        {**deployment, "predictor": "predictor.py"},
        {**deployment, "name": "Not_A_Name"},
        {**deployment, "predictorResources": {"limits": {"cores": "many"}}},
        {**deployment, "requestedInstances": float("inf")},
        {**deployment, "requestedInstances": 17},
    ):
        body = json.dumps(refused).encode()  # Infinity too, which JSON parsers accept
        put = api.call("scientist", "PUT", f"{base}/serving", content=body, headers=JSON)
        assert sdk_error(put, 400)
    no_model = api.call("scientist", "PUT", f"{base}/serving", json=deployment)
    assert sdk_error(no_model, 404)["errorCode"] != 240000
    predict = api.call("scientist", "POST", f"{base}/inference/models/iris:predict", json={})
    assert predict.status_code == 404
