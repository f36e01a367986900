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
- `GET /ws/v1/cluster/apps` (*Cluster Applications API*): `{"apps": {"app": [...]}}` with
  `id`, `user`, `name`, `queue`, `state`, `finalStatus`, `startedTime`, `finishedTime`,
  `memorySeconds`, `vcoreSeconds` and `resourceSecondsMap` (entries `memory-mb`, `vcores`
  and, on a cluster with the resource type, `yarn.io/gpu`); `{"apps": null}` when nothing
  matches. Filters as the RM applies them (ResourceManager source,
  `ApplicationsRequestBuilder` and `ClientRMService.getApplications`): `states` (also the
  deprecated `state`; comma separated, case-insensitive; an unknown state is 400);
  `queue` (a full path or a leaf name; an unknown queue is 400) returns only what the
  scheduler still holds in that queue, i.e. applications not yet finished. Finished
  applications beyond `max_completed_applications` are forgotten, oldest first. Renderings
  chosen with `resource_map`: "repeated" (Jersey 1 on Hadoop 3.x: one `"entry"` key per map
  entry, the same key repeated in one object, values as strings, in HashMap order), "list" (`"entry": [...]`,
  numbers) or "absent" (Hadoop 2.x has no map); `app_queue` "leaf" (older releases report
  the leaf name) or "path" (newer ones report the full path).
- `GET /ws/v1/cluster/apps/{appid}` (*Cluster Application API*): `{"app": {...}}` as in the
  list; 404 with a `NotFoundException` RemoteException for an unknown (or forgotten) id.
- `GET|PUT /ws/v1/cluster/apps/{appid}/state` (*Cluster Application State API*): GET gives
  `{"state": ...}`; PUT `{"state": "KILLED"}` (JSON) needs `user.name` (401 without) naming
  the application's owner or an admin (403 otherwise); any other target state is 400; an
  application already in a final state answers 200 with that state; otherwise the kill is
  accepted (202, with the state the application had) and the application is KILLED
  (finalStatus KILLED) at once. Applications are only ever changed by the test hooks or a
  kill: this fake runs nothing.
- `state` of the Capacity Scheduler queues: a STOPPED queue refuses new applications
  (`submit_application` raises `Refused`) and shows DRAINING while some still run.

Test hooks: `set_applications` (running work in a queue, counted only), `submit_application`
/ `update_application` / `forget_application` (applications with cumulative usage;
`startedTime` is the wall clock at submission, as the RM sets it, unless `started` is given),
`fault` ("error" answers 500, "slow" never answers in time), `requests` (every call seen).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
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


CLUSTER_ID = 1700000000000
FINISHED = ("FINISHED", "FAILED", "KILLED")
APP_STATES = ("NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", *FINISHED)


def wall_clock_ms() -> int:
    """The RM's timestamps: `System.currentTimeMillis()`."""
    return time.time_ns() // 1_000_000


class Invalid(Exception):
    """The mutation is refused with 400, as the RM refuses an invalid configuration."""


class Refused(Exception):
    """The RM refuses to accept the application (unknown, parent or non-RUNNING queue)."""


@dataclass
class App:
    """One application as the RM accounts it: cumulative resource-seconds."""

    id: str
    queue_path: str
    state: str = "RUNNING"
    final_status: str = "UNDEFINED"
    vcore_seconds: int = 0
    memory_seconds: int = 0
    gpu_seconds: int = 0
    user: str = "alice"
    started: int = 0  # startedTime: ms since the epoch
    finished: int = 0  # finishedTime: ms since the epoch, 0 while running
    finish_order: int = 0  # which completed first (the wall clock may not tell in 1 ms)


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
    apps: dict[str, App] = field(default_factory=dict)
    max_completed_applications: int = 1000
    resource_map: str = "repeated"  # "repeated" | "list" | "absent"
    app_queue: str = "leaf"  # "leaf" | "path"
    _sequence: itertools.count = field(default_factory=lambda: itertools.count(1))
    _clock: itertools.count = field(default_factory=lambda: itertools.count(CLUSTER_ID + 1000))

    # -- test hooks -----------------------------------------------------------------

    def set_applications(
        self, queue_path: str, count: int, memory_mb: int = 0, vcores: int = 0, gpus: int = 0
    ) -> None:
        self.usage[queue_path] = Usage(count, memory_mb, vcores, gpus)

    def submit_application(
        self,
        queue_path: str,
        *,
        vcore_seconds: int = 0,
        memory_seconds: int = 0,
        gpu_seconds: int = 0,
        state: str = "RUNNING",
        user: str = "alice",
        started: int | None = None,
    ) -> str:
        """Admit an application as the RM does: the queue must be a leaf and RUNNING.

        `startedTime` is the wall clock at submission (ms since the epoch), as the RM sets
        it; `started` overrides it."""
        with self.lock:
            if queue_path not in self.queue_paths() or children(self.conf, queue_path):
                raise Refused(f"Application submitted to unknown or parent queue {queue_path}")
            if self.live_state(self.conf, queue_path) != "RUNNING":
                raise Refused(
                    f"Queue {queue_path} is STOPPED. Cannot accept submission of application"
                )
            app_id = f"application_{CLUSTER_ID}_{next(self._sequence):04d}"
            when = wall_clock_ms() if started is None else started
            self.apps[app_id] = App(app_id, queue_path, user=user, started=when)
        self.update_application(
            app_id,
            state=state,
            vcore_seconds=vcore_seconds,
            memory_seconds=memory_seconds,
            gpu_seconds=gpu_seconds,
        )
        return app_id

    def update_application(
        self,
        app_id: str,
        *,
        state: str | None = None,
        vcore_seconds: int | None = None,
        memory_seconds: int | None = None,
        gpu_seconds: int | None = None,
    ) -> None:
        """Advance an application: new cumulative figures and/or a new state."""
        with self.lock:
            app = self.apps[app_id]
            if app.state in FINISHED:
                raise ValueError(f"{app_id} is {app.state}: its usage is final")
            for name, value in (
                ("vcore_seconds", vcore_seconds),
                ("memory_seconds", memory_seconds),
                ("gpu_seconds", gpu_seconds),
            ):
                if value is not None:
                    setattr(app, name, value)
            if state is not None:
                if state not in APP_STATES:
                    raise ValueError(f"unknown application state {state}")
                app.state = state
                if state in FINISHED:
                    app.final_status = {"FINISHED": "SUCCEEDED"}.get(state, state)
                    app.finished = max(wall_clock_ms(), app.started)
                    app.finish_order = next(self._clock)
            self._forget_beyond_limit()

    def forget_application(self, app_id: str) -> None:
        with self.lock:
            self.apps.pop(app_id, None)

    def _forget_beyond_limit(self) -> None:
        # The RM forgets the applications that completed first.
        done = sorted(
            (a for a in self.apps.values() if a.state in FINISHED), key=lambda a: a.finish_order
        )
        for app in done[: max(len(done) - self.max_completed_applications, 0)]:
            del self.apps[app.id]

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

    def running_applications(self, path: str) -> int:
        """What the scheduler holds in a leaf queue: counted work plus unfinished apps."""
        apps = self.apps.values()
        unfinished = sum(1 for a in apps if a.queue_path == path and a.state not in FINISHED)
        return self.usage.get(path, Usage()).applications + unfinished

    def live_state(self, conf: dict[str, str], path: str) -> str:
        configured = conf.get(f"{PREFIX}{path}.state", "RUNNING").strip().upper()
        if configured == "STOPPED" and self.running_applications(path) > 0:
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
            used = copy.copy(self.usage.get(path, Usage()))
            used.applications = self.running_applications(path)
            if kids:
                used = Usage(sum(self.running_applications(f"{path}.{k}") for k in kids))
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

    def resolve_queue(self, name: str) -> str | None:
        """A queue given by full path or by (unique) leaf name, as the scheduler finds it."""
        paths = self.queue_paths()
        if name in paths:
            return name
        matches = [p for p in paths if p.rsplit(".", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None

    def apps_json(self, states: str | None, queue: str | None) -> str:
        """The `apps` answer as JSON text (text: the Jersey 1 rendering repeats keys)."""
        wanted = {s.strip().upper() for s in (states or "").split(",") if s.strip()}
        unknown = wanted - set(APP_STATES)
        if unknown:
            raise Invalid(
                f"Invalid application-state {','.join(sorted(unknown))} specified. "
                f"It should be one of {', '.join(APP_STATES)}"
            )
        selected = list(self.apps.values())
        if queue:
            path = self.resolve_queue(queue)
            if path is None:
                raise Invalid(f"Unknown queue: {queue}")
            # ClientRMService asks the scheduler, which only holds unfinished applications.
            selected = [a for a in selected if a.queue_path == path and a.state not in FINISHED]
        if wanted:
            selected = [a for a in selected if a.state in wanted]
        if not selected:
            return json.dumps({"apps": None})
        raw_maps: dict[str, str] = {}
        rendered = []
        for app in selected:
            item = self.app_object(app)
            if self.resource_map != "absent":
                marker = f"@@resourceSecondsMap:{app.id}@@"
                raw_maps[json.dumps(marker)] = self.resource_map_json(app)
                item["resourceSecondsMap"] = marker
            rendered.append(item)
        text = json.dumps({"apps": {"app": rendered}})
        for marker, raw in raw_maps.items():
            text = text.replace(marker, raw)
        return text

    def app_object(self, app: App) -> dict[str, Any]:
        running = app.state not in FINISHED
        leaf = app.queue_path.rsplit(".", 1)[-1]
        return {
            "id": app.id,
            "user": app.user,
            "name": f"job {app.id}",
            "queue": app.queue_path if self.app_queue == "path" else leaf,
            "state": app.state,
            "finalStatus": app.final_status,
            "progress": 50.0 if running else 100.0,
            "applicationType": "SPARK",
            "clusterId": CLUSTER_ID,
            "startedTime": app.started,
            "finishedTime": app.finished,
            "elapsedTime": 1000,
            "allocatedMB": 1024 if running else -1,
            "allocatedVCores": 1 if running else -1,
            "runningContainers": 1 if running else -1,
            "memorySeconds": app.memory_seconds,
            "vcoreSeconds": app.vcore_seconds,
            "preemptedResourceSecondsMap": {},
            "unmanagedApplication": False,
        }

    def resource_map_json(self, app: App) -> str:
        # In the order the RM's java.util.HashMap iterates them (16 buckets: memory-mb and
        # yarn.io/gpu share bucket 8, vcores is in bucket 13), so the GPU entry is not last.
        entries = [("memory-mb", app.memory_seconds)]
        if GPU in self.cluster_maximum:
            entries.append((GPU, app.gpu_seconds))
        entries.append(("vcores", app.vcore_seconds))
        if self.resource_map == "list":
            return json.dumps({"entry": [{"key": k, "value": v} for k, v in entries]})
        repeated = ",".join(
            '"entry":' + json.dumps({"key": k, "value": str(v)}) for k, v in entries
        )
        return "{" + repeated + "}"

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

        @app.get("/ws/v1/cluster/apps")
        def apps(request: Request) -> Response:
            params = request.query_params
            with self.lock:
                try:
                    text = self.apps_json(
                        params.get("states") or params.get("state"), params.get("queue")
                    )
                except Invalid as exc:
                    return JSONResponse(remote_exception(str(exc)), status_code=400)
            return Response(text, media_type="application/json")

        def not_found(app_id: str) -> JSONResponse:
            return JSONResponse(
                {
                    "RemoteException": {
                        "exception": "NotFoundException",
                        "message": f"java.lang.Exception: app with id: {app_id} not found",
                        "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException",
                    }
                },
                status_code=404,
            )

        @app.get("/ws/v1/cluster/apps/{app_id}")
        def one_app(app_id: str) -> Response:
            with self.lock:
                found = self.apps.get(app_id)
                if found is None:
                    return not_found(app_id)
                return JSONResponse({"app": self.app_object(found)})

        @app.get("/ws/v1/cluster/apps/{app_id}/state")
        def app_state(app_id: str) -> Response:
            with self.lock:
                found = self.apps.get(app_id)
                if found is None:
                    return not_found(app_id)
                return JSONResponse({"state": found.state})

        @app.put("/ws/v1/cluster/apps/{app_id}/state")
        async def kill_app(request: Request, app_id: str) -> Response:
            user = request.query_params.get("user.name")
            if not user:
                return PlainTextResponse(
                    "Unable to obtain user name, user not authenticated", status_code=401
                )
            if "json" not in request.headers.get("content-type", ""):
                return PlainTextResponse("Unsupported Media Type", status_code=415)
            try:
                target = json.loads(await request.body()).get("state")
            except (ValueError, AttributeError):
                target = None
            with self.lock:
                found = self.apps.get(app_id)
                if found is None:
                    return not_found(app_id)
                if target != "KILLED":
                    return JSONResponse(
                        remote_exception("Only 'KILLED' is allowed as a target state."),
                        status_code=400,
                    )
                if user != found.user and user not in self.admins:
                    return PlainTextResponse(
                        f"Unauthorized user {user}: cannot kill {app_id}", status_code=403
                    )
                before = found.state
            if before in FINISHED:
                return JSONResponse({"state": before})
            self.update_application(app_id, state="KILLED")
            return JSONResponse(
                {"state": before},
                status_code=202,
                headers={"Location": f"/ws/v1/cluster/apps/{app_id}"},
            )

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


def remote_exception(message: str) -> dict[str, Any]:
    """The RM's JSON error body for a `BadRequestException` (400)."""
    return {
        "RemoteException": {
            "exception": "BadRequestException",
            "message": f"java.lang.Exception: {message}",
            "javaClassName": "org.apache.hadoop.yarn.webapp.BadRequestException",
        }
    }


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
