"""`hops jobs run --follow`: the execution's output as it is written, and its outcome as the
exit code (a script can `hops jobs run ... --follow && next-step`)."""

from __future__ import annotations

import sys
import time
from typing import Any

from hops_client.api import Api, quoted

TERMINAL = {"FINISHED", "FAILED", "KILLED"}
POLL_SECONDS = 0.5
KILLED_EXIT = 143  # 128 + SIGTERM: how the platform stops an execution


def exit_code(execution: dict[str, Any]) -> int:
    """FINISHED: 0; FAILED: the program's own exit code (1 when it has none, e.g. the
    service restarted); KILLED: 143."""
    state = execution["state"]
    if state == "FINISHED":
        return 0
    if state == "KILLED":
        return KILLED_EXIT
    code = execution.get("exit_code")
    return code if isinstance(code, int) and 0 < code < 256 else 1


def execution_url(project: str, job: str, execution_id: int | None = None) -> str:
    url = f"/projects/{quoted(project)}/jobs/{quoted(job)}/executions"
    return url if execution_id is None else f"{url}/{execution_id}"


def follow(api: Api, project: str, job: str, execution: dict[str, Any]) -> dict[str, Any]:
    """Print what the execution writes (stdout to stdout, stderr to stderr) until it ends;
    the log endpoint answers the whole log so far, so only the new bytes are printed."""
    url = execution_url(project, job, execution["id"])
    printed = {"stdout": 0, "stderr": 0}
    sinks = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    while True:
        # the state first: logs read after a final state are complete
        execution = api.json("GET", url)
        for stream, sink in sinks.items():
            data = api.request("GET", f"{url}/log", params={"stream": stream}).content
            if len(data) > printed[stream]:
                sink.write(data[printed[stream] :])
                sink.flush()
                printed[stream] = len(data)
        if execution["state"] in TERMINAL:
            return execution
        time.sleep(POLL_SECONDS)
