"""A contract fake of the YARN ResourceManager's scheduler endpoints, in memory.

It implements what `YarnCompute` uses, as Apache Hadoop 3.x documents it ("ResourceManager
REST API's": *Cluster Scheduler API*, *Scheduler Configuration Mutation API*; "Capacity
Scheduler": *Queue Properties*), so the client is tested against the documented shapes and
rules rather than against itself:

- `GET /ws/v1/cluster/scheduler`: the live queue tree as the documented JSON
  (`scheduler.schedulerInfo.queues.queue[]` with `queueName`, `capacity`, `maxCapacity`,
  `state`, `numApplications`, `resourcesUsed`; leaves typed
  `capacitySchedulerLeafQueueInfo`). Only `queueName` is sent, not the newer `queuePath`.
- `GET /ws/v1/cluster/scheduler-conf`: `<configuration><property><name/><value/>...`.
- `PUT /ws/v1/cluster/scheduler-conf` with an XML `sched-conf`: applied in the order the
  RM applies them (remove-queue, add-queue, update-queue, global-updates) to a copy, then
  the whole configuration is validated; 200 on success, 400 with a message otherwise,
  leaving the configuration unchanged. Rules checked, each from the documents:
  the queue to add must not exist and its parent must; the queue to update or remove must
  exist; a removed queue must be STOPPED (a stopped queue with applications is DRAINING,
  not STOPPED); percentages are 0..100, `maximum-capacity` is -1 or >= `capacity`;
  children's capacities at each level add up to exactly 100; `state` is RUNNING or
  STOPPED; `maximum-allocation` names known resources, is not above the cluster maximum
  and, for a live leaf queue, is not decreased (ResourceManager source,
  `LeafQueue.reinitialize`; not in the documents).
- writes need `user.name` (pseudo authentication) naming an admin: 401 / 403 otherwise.

Test hooks: `set_applications` (running work in a queue), `fault` ("error" answers 500,
"slow" never answers in time), `requests` (every call seen).
"""

from __future__ import annotations

import asyncio
import copy
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.support.processes import free_port

PREFIX = "yarn.scheduler.capacity."
GPU = "yarn.io/gpu"
EPSILON = 1e-6

DEFAULT_CONF = {
    "yarn.scheduler.capacity.maximum-applications": "10000",
    f"{PREFIX}root.queues": "default,projects",
    f"{PREFIX}root.default.capacity": "40",
    f"{PREFIX}root.projects.capacity": "60",
    f"{PREFIX}root.projects.queues": "hops__unallocated",
    f"{PREFIX}root.projects.hops__unallocated.capacity": "100",
    f"{PREFIX}root.projects.hops__unallocated.acl_submit_applications": " ",
}


class Invalid(Exception):
    """The mutation is refused with 400, as the RM refuses an invalid configuration."""


@dataclass
class Usage:
    applications: int = 0
    memory_mb: int = 0
    vcores: int = 0
    gpus: int = 0


@dataclass
class YarnFake:
    admins: tuple[str, ...] = ("yarn",)
    cluster_maximum: dict[str, int] = field(
        default_factory=lambda: {"memory-mb": 65536, "vcores": 32, GPU: 8}
    )
    conf: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CONF))
    usage: dict[str, Usage] = field(default_factory=dict)
    fault: str | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- test hooks -----------------------------------------------------------------

    def set_applications(
        self, queue_path: str, count: int, memory_mb: int = 0, vcores: int = 0, gpus: int = 0
    ) -> None:
        self.usage[queue_path] = Usage(count, memory_mb, vcores, gpus)

    def queue_paths(self, conf: dict[str, str] | None = None) -> list[str]:
        conf = self.conf if conf is None else conf
        paths: list[str] = []

        def walk(path: str) -> None:
            paths.append(path)
            for child in children(conf, path):
                walk(f"{path}.{child}")

        walk("root")
        return paths

    def mutations(self) -> int:
        return sum(1 for method, _ in self.requests if method == "PUT")

    # -- model ----------------------------------------------------------------------

    def live_state(self, conf: dict[str, str], path: str) -> str:
        configured = conf.get(f"{PREFIX}{path}.state", "RUNNING").strip().upper()
        if configured == "STOPPED" and self.usage.get(path, Usage()).applications > 0:
            return "DRAINING"
        return configured

    def effective_maximum(self, conf: dict[str, str], path: str) -> dict[str, int]:
        """Parent's maximum allocation (cluster maximum at root), overridden per resource by
        the queue's `maximum-allocation` (unnamed resources become 0, as
        `ResourceUtils.createResourceFromString` starts from an empty resource)."""
        parent = path.rsplit(".", 1)[0] if "." in path else None
        base = (
            dict(self.cluster_maximum) if parent is None else self.effective_maximum(conf, parent)
        )
        raw = conf.get(f"{PREFIX}{path}.maximum-allocation")
        if raw:
            configured = parse_resource_string(raw, self.cluster_maximum)
            base.update({name: configured.get(name, 0) for name in self.cluster_maximum})
        return base

    def apply(self, body: bytes) -> None:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise Invalid(f"malformed sched-conf: {exc}") from exc
        if root.tag != "sched-conf":
            raise Invalid(f"expected <sched-conf>, got <{root.tag}>")
        conf = copy.deepcopy(self.conf)
        for element in root.findall("remove-queue"):
            self._remove(conf, (element.text or "").strip())
        for element in root.findall("add-queue"):
            path, params = queue_params(element)
            self._add(conf, path, params)
        for element in root.findall("update-queue"):
            path, params = queue_params(element)
            if path not in self.queue_paths(conf):
                raise Invalid(f"Queue {path} not found")
            set_params(conf, path, params)
        for element in root.findall("global-updates"):
            for entry in element.findall("entry"):
                conf[(entry.findtext("key") or "").strip()] = entry.findtext("value") or ""
        self._validate(conf)
        self.conf = conf

    def _remove(self, conf: dict[str, str], path: str) -> None:
        if path == "root" or path not in self.queue_paths(conf):
            raise Invalid(f"Queue {path} not found")
        if self.live_state(self.conf, path) != "STOPPED":
            raise Invalid(
                f"Can not remove queue {path}: it is not in STOPPED state "
                f"(current state {self.live_state(self.conf, path)})"
            )
        parent, name = path.rsplit(".", 1)
        siblings = [c for c in children(conf, parent) if c != name]
        conf[f"{PREFIX}{parent}.queues"] = ",".join(siblings)
        for key in [k for k in conf if k.startswith(f"{PREFIX}{path}.")]:
            del conf[key]

    def _add(self, conf: dict[str, str], path: str, params: dict[str, str]) -> None:
        if "." not in path:
            raise Invalid(f"Can't add queue {path}: not a full queue path")
        if path in self.queue_paths(conf):
            raise Invalid(f"Can't add existing queue {path}")
        parent, name = path.rsplit(".", 1)
        if parent not in self.queue_paths(conf):
            raise Invalid(f"Can't add queue {path}: parent {parent} does not exist")
        conf[f"{PREFIX}{parent}.queues"] = ",".join([*children(conf, parent), name])
        set_params(conf, path, params)

    def _validate(self, conf: dict[str, str]) -> None:
        paths = self.queue_paths(conf)
        for path in paths:
            capacity = percent(conf, path, "capacity", "100" if path == "root" else "0")
            maximum = percent(conf, path, "maximum-capacity", "100")
            if maximum == -1:
                maximum = 100.0
            if maximum < capacity - EPSILON:
                raise Invalid(f"Illegal queue capacity setting for {path}: max < capacity")
            state = conf.get(f"{PREFIX}{path}.state", "RUNNING").strip().upper()
            if state not in ("RUNNING", "STOPPED"):
                raise Invalid(f"Illegal queue state {state} for {path}")
            kids = children(conf, path)
            if kids:
                total = sum(percent(conf, f"{path}.{kid}", "capacity", "0") for kid in kids)
                if abs(total - 100.0) > EPSILON:
                    raise Invalid(
                        f"Illegal capacity sum of {total} for children of queue {path}; "
                        "capacities at each level must add up to 100"
                    )
            new_max = self.effective_maximum(conf, path)
            for name, value in new_max.items():
                if value > self.cluster_maximum[name]:
                    raise Invalid(
                        "Queue maximum allocation cannot be larger than the cluster setting "
                        f"for queue {path}: {name}={value} > {self.cluster_maximum[name]}"
                    )
            if not kids and path in self.queue_paths(self.conf):
                old_max = self.effective_maximum(self.conf, path)
                if any(new_max[n] < old_max[n] for n in old_max):
                    raise Invalid(
                        f"Trying to reinitialize {path} the maximum allocation size can not "
                        f"be decreased! Current setting: {old_max}, trying to set it to: "
                        f"{new_max}"
                    )

    # -- views ----------------------------------------------------------------------

    def scheduler_json(self) -> dict[str, Any]:
        conf = self.conf

        def node(path: str) -> dict[str, Any]:
            capacity = percent(conf, path, "capacity", "100" if path == "root" else "0")
            maximum = percent(conf, path, "maximum-capacity", "100")
            kids = children(conf, path)
            used = self.usage.get(path, Usage())
            if kids:
                used = Usage(sum(self.usage.get(f"{path}.{k}", Usage()).applications for k in kids))
            result: dict[str, Any] = {
                "queueName": path.rsplit(".", 1)[-1],
                "capacity": capacity,
                "maxCapacity": 100.0 if maximum == -1 else maximum,
                "usedCapacity": 0.0,
                "state": self.live_state(conf, path),
                "numApplications": used.applications,
                "usedResources": f"<memory:{used.memory_mb}, vCores:{used.vcores}>",
                "resourcesUsed": {
                    "memory": used.memory_mb,
                    "vCores": used.vcores,
                    "resourceInformations": {
                        "resourceInformation": [
                            {"name": "memory-mb", "value": used.memory_mb, "units": "Mi"},
                            {"name": "vcores", "value": used.vcores, "units": ""},
                            {"name": GPU, "value": used.gpus, "units": ""},
                        ]
                    },
                },
            }
            if kids:
                result["queues"] = {"queue": [node(f"{path}.{kid}") for kid in kids]}
            else:
                result["type"] = "capacitySchedulerLeafQueueInfo"
                result["numActiveApplications"] = used.applications
                result["numPendingApplications"] = 0
            return result

        info = node("root")
        info["type"] = "capacityScheduler"
        return {"scheduler": {"schedulerInfo": info}}

    def configuration_xml(self) -> bytes:
        root = ET.Element("configuration")
        for name in sorted(self.conf):
            prop = ET.SubElement(root, "property")
            ET.SubElement(prop, "name").text = name
            ET.SubElement(prop, "value").text = self.conf[name]
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    # -- the ASGI app ---------------------------------------------------------------

    def build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.middleware("http")
        async def faults(request: Request, call_next):  # type: ignore[no-untyped-def]
            self.requests.append((request.method, request.url.path))
            if self.fault == "error":
                return PlainTextResponse("java.lang.NullPointerException", status_code=500)
            if self.fault == "slow":
                await asyncio.sleep(60)
            return await call_next(request)

        @app.get("/ws/v1/cluster/scheduler")
        def scheduler() -> JSONResponse:
            with self.lock:
                return JSONResponse(self.scheduler_json())

        @app.get("/ws/v1/cluster/scheduler-conf")
        def get_conf(request: Request) -> Response:
            with self.lock:
                if "json" in request.headers.get("accept", ""):
                    items = [{"name": k, "value": v} for k, v in sorted(self.conf.items())]
                    return JSONResponse({"property": items})
                return Response(self.configuration_xml(), media_type="application/xml")

        @app.put("/ws/v1/cluster/scheduler-conf")
        async def put_conf(request: Request) -> Response:
            user = request.query_params.get("user.name")
            if not user:
                return PlainTextResponse(
                    "Unable to obtain user name, user not authenticated", status_code=401
                )
            if user not in self.admins:
                return PlainTextResponse(
                    f"User {user} is not admin of all modified queues.", status_code=403
                )
            if "xml" not in request.headers.get("content-type", ""):
                return PlainTextResponse("Unsupported Media Type", status_code=415)
            body = await request.body()
            with self.lock:
                try:
                    self.apply(body)
                except Invalid as exc:
                    return PlainTextResponse(str(exc), status_code=400)
            return PlainTextResponse("Configuration change successfully applied.")

        return app


def children(conf: dict[str, str], path: str) -> list[str]:
    raw = conf.get(f"{PREFIX}{path}.queues", "")
    return [c.strip() for c in raw.split(",") if c.strip()]


def percent(conf: dict[str, str], path: str, name: str, default: str) -> float:
    raw = conf.get(f"{PREFIX}{path}.{name}", default).strip()
    if raw.endswith("w") or raw.startswith("["):
        raise Invalid(f"{path}.{name}={raw}: only percentage mode is modelled by this fake")
    try:
        value = float(raw)
    except ValueError as exc:
        raise Invalid(f"Illegal {name} '{raw}' for queue {path}") from exc
    if name == "maximum-capacity" and value == -1:
        return value
    if not 0 <= value <= 100:
        raise Invalid(f"Illegal {name} of {value} for queue {path}")
    return value


def parse_resource_string(raw: str, known: dict[str, int]) -> dict[str, int]:
    values: dict[str, int] = {}
    for pair in raw.split(","):
        match = re.fullmatch(r"\s*([\w./-]+)\s*=\s*(\d+)\s*([A-Za-z]*)\s*", pair)
        if not match:
            raise Invalid(f'"{pair}" is not a valid resource type/amount pair')
        name, amount, unit = match.group(1), int(match.group(2)), match.group(3)
        name = {"memory": "memory-mb", "gpu": GPU}.get(name, name)
        if name not in known:
            raise Invalid(f"Unknown resource: {name}")
        amount *= {"": 1, "Mi": 1, "M": 1, "Gi": 1024, "G": 1024}.get(unit, 1)
        values[name] = amount
    return values


def queue_params(element: ET.Element) -> tuple[str, dict[str, str]]:
    path = (element.findtext("queue-name") or "").strip()
    params: dict[str, str] = {}
    params_element = element.find("params")
    for entry in params_element.findall("entry") if params_element is not None else []:
        params[(entry.findtext("key") or "").strip()] = entry.findtext("value") or ""
    return path, params


def set_params(conf: dict[str, str], path: str, params: dict[str, str]) -> None:
    for key, value in params.items():
        if value == "":
            conf.pop(f"{PREFIX}{path}.{key}", None)  # an empty value unsets the key
        else:
            conf[f"{PREFIX}{path}.{key}"] = value


# -- serving ------------------------------------------------------------------------


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on loopback; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def blackhole() -> Iterator[str]:
    """A port that accepts TCP connections (kernel backlog) but never answers: a hung
    server, for proving that every call is bounded in time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def dead_url() -> str:
    """A loopback port nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"
