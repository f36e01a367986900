"""A Python job through the unchanged `hopsworks` SDK: a script uploaded with the dataset
API, a job created from the SDK's own default configuration, run with arguments and
awaited (the SDK polls the execution until its state is final), its logs downloaded
through the dataset API at the paths the execution names, then listed and deleted."""

from __future__ import annotations

from tests.sdk.conftest import RunSdk, SdkServer

SCRIPT = """\
import sys
print("hello from the job", sys.argv[1:])
print("a warning", file=sys.stderr)
"""

RUN_JOB = f"""
with open("hello.py", "w") as f:
    f.write({SCRIPT!r})
uploaded = project.get_dataset_api().upload("hello.py", "Resources", overwrite=True)
jobs = project.get_job_api()
config = jobs.get_configuration("PYTHON")
config["appPath"] = uploaded
job = jobs.create_job("hello", config)
execution = job.run(args="first 'second arg'", await_termination=True)
out, err = execution.download_logs()
result = {{
    "app_path": jobs.get_job("hello").config["appPath"],
    "state": execution.state,
    "success": execution.success,
    "stdout": open(out).read(),
    "stderr": open(err).read(),
    "executions": [e.id for e in job.get_executions()],
    "missing": jobs.get_job("no-such-job"),
    "listed": [j.name for j in jobs.get_jobs()],
}}
job.delete()
result["deleted"] = jobs.get_job("hello") is None
"""


def test_a_python_job_runs_and_its_logs_are_read_through_the_sdk(
    run_sdk: RunSdk, sdk_server: SdkServer
) -> None:
    run = run_sdk(RUN_JOB)
    result = run.result
    assert result["app_path"] == f"hdfs:///Projects/{sdk_server.project}/Resources/hello.py"
    assert result["state"] == "FINISHED" and result["success"] is True
    assert result["stdout"] == "hello from the job ['first', 'second arg']\n"
    assert result["stderr"] == "a warning\n"
    assert len(result["executions"]) == 1
    assert result["missing"] is None
    assert result["listed"] == ["hello"]
    assert result["deleted"] is True
    # the platform's own view of what the SDK did
    reply = sdk_server.api.get(f"/api/projects/{sdk_server.project}/jobs")
    assert reply.status_code == 200 and reply.json()["items"] == []
