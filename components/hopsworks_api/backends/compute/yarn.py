"""Project queues on YARN's Capacity Scheduler, through the ResourceManager REST API.

Sources (Apache Hadoop 3.x documentation):

- "ResourceManager REST API's", section *Scheduler Configuration Mutation API*:
  `GET /ws/v1/cluster/scheduler-conf` returns the scheduler configuration currently loaded
  (XML `<configuration><property><name/><value/></property>...`); `PUT` of a `sched-conf`
  object with `add-queue` / `update-queue` (`queue-name` + `params` entries) /
  `remove-queue` (full queue path) / `global-updates` changes it; "A successful mutation
  results in a 200 response. A malformed request or one which resulted in an invalid
  scheduler configuration results in a 400 response." Note there: "Queues must be put
  into STOPPED state before they are deleted" and "queue-capacity at each level should
  be equal to 100%". The mutation API needs a mutable configuration store
  (`yarn.scheduler.configuration.store.class` = `memory`, `leveldb`, `zk` or `fs`).
- same document, section *Cluster Scheduler API*: `GET /ws/v1/cluster/scheduler` returns
  the live queue tree (`schedulerInfo.queues.queue[]`, each with `queueName`, `state`,
  `numApplications`, `resourcesUsed`), used here for usage and for the DRAINING check.
- same document, section *Cluster Applications API*: `GET /ws/v1/cluster/apps` lists the
  applications the RM still knows (running and the last
  `yarn.resourcemanager.max-completed-applications` finished ones), each `app` with `id`,
  `queue`, `state`, `finalStatus`, `vcoreSeconds`, `memorySeconds` (cumulative "virtual
  core-seconds" / "megabyte-seconds") and, since Hadoop 3.0, `resourceSecondsMap` (the
  same per resource type, GPUs included). Used for compute credits.
- "Capacity Scheduler", section *Queue Properties*: `capacity` ("When using percentage
  values the sum of capacities for all queues, at each level, must be equal to 100"),
  `maximum-capacity` (">= absolute capacity"; -1 means 100), `state` (RUNNING/STOPPED:
  "Existing applications continue to completion, thus the queue can be drained"), and
  `maximum-allocation-mb` / `-vcores` ("The per queue maximum limit ... to allocate to
  each container request"); the generic per-queue `maximum-allocation` key takes a
  resource string (`memory-mb=8192,vcores=4,yarn.io/gpu=1`, parsed by
  `ResourceUtils.createResourceFromString`), which is how the GPU ceiling is expressed.

Design (see docs/backends-compute-kubernetes.md):

- every project queue is a leaf `<parent>.<project>` under a parent the deployment
  configures (default `root.projects`). Because sibling capacities must add up to exactly
  100, the parent also holds a *spare* leaf (default `hops__unallocated`, a name no
  project can have since project names never contain `__`) that carries the capacity no
  project has been promised. Creating a project queue moves capacity from the spare to
  the project in the same `PUT` (one atomic mutation); removing it gives it back.
- removal is two mutations, as the API requires: `update-queue state=STOPPED`, then
  `remove-queue` (YARN-9780: both in one call is refused). A queue that still has
  applications stays DRAINING and the removal is refused with `Conflict`; repeating the
  delete later completes it.
- the quota is the per-queue `maximum-allocation`. The ResourceManager refuses to
  *decrease* a live leaf queue's maximum allocation (`LeafQueue.reinitialize`: "the
  maximum allocation size can not be decreased"), and a fresh queue inherits the cluster
  maximum, so lowering (including the first quota) re-creates the queue: stop, remove,
  add with its previous settings plus the new ceiling. That is only possible while no
  application runs in it, otherwise `Conflict`.
- queue state (compute credits): `set_queue_state` is one `update-queue state=STOPPED|RUNNING`
  (the same mutation the delete starts with); STOPPED refuses new applications and lets
  running ones finish.
- application usage is read **without** the `queue` query parameter and filtered here. The
  RM answers `?queue=` from the scheduler's view of the queue (`ClientRMService.
  getApplications` -> `scheduler.getAppsInQueue`), which holds only applications that are
  still pending or running: a finished application, and so the last part of its usage,
  would never be seen. The `queue` field of an app is the leaf name on older releases and
  the full path on newer ones; both are matched (leaf names are unique on the releases
  that report them).
- `400` answers to a mutation become `BadRequest` (the change is invalid, e.g. a ceiling
  above the cluster maximum), unless the configuration changed meanwhile (another
  writer): then the change is planned again from the new configuration (3 attempts).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from hopsworks_api.backends.compute.base import (
    HUNDRED,
    AppUsage,
    ComputeQuota,
    QueueInfo,
    check_project,
    check_quota,
    check_shares,
    format_percent,
    from_epoch_ms,
)
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.http import make_client, send, snippet
from hopsworks_api.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)

SYSTEM = "yarn"
PREFIX = "yarn.scheduler.capacity."
SCHEDULER = "/ws/v1/cluster/scheduler"
SCHEDULER_CONF = "/ws/v1/cluster/scheduler-conf"
APPS = "/ws/v1/cluster/apps"
FINISHED_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
QUEUE_STATES = {True: "RUNNING", False: "STOPPED"}
MUTATION_ATTEMPTS = 3
MEMORY, VCORES = "memory-mb", "vcores"
_RESOURCE_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*=\s*(\d+)\s*([A-Za-z]*)\s*$")
_MEMORY_UNITS = {"": 1, "M": 1, "Mi": 1, "G": 1024, "Gi": 1024, "T": 1024**2, "Ti": 1024**2}

Conf = dict[str, str]
Params = dict[str, str]


def conf_key(queue_path: str, name: str) -> str:
    return f"{PREFIX}{queue_path}.{name}"


def child_queues(conf: Conf, queue_path: str) -> list[str]:
    raw = conf.get(conf_key(queue_path, "queues"), "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def parse_resources(raw: str) -> dict[str, int]:
    """`memory-mb=8192,vcores=4,yarn.io/gpu=1` (units allowed on memory) -> a dict."""
    values: dict[str, int] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        match = _RESOURCE_RE.fullmatch(pair)
        if not match:
            raise ValueError(f"'{pair}' is not a resource=amount pair")
        name, amount, unit = match.group(1), int(match.group(2)), match.group(3)
        name = {"memory": MEMORY, "gpu": "yarn.io/gpu"}.get(name, name)
        if name == MEMORY:
            if unit not in _MEMORY_UNITS:
                raise ValueError(f"unknown memory unit '{unit}'")
            amount *= _MEMORY_UNITS[unit]
        elif unit:
            raise ValueError(f"'{name}' takes no unit")
        values[name] = amount
    return values


def sched_conf_xml(
    add: Sequence[tuple[str, Params]] = (),
    update: Sequence[tuple[str, Params]] = (),
    remove: Sequence[str] = (),
) -> bytes:
    """A `sched-conf` mutation exactly as the REST document's XML examples show it."""
    root = ET.Element("sched-conf")
    for tag, items in (("add-queue", add), ("update-queue", update)):
        for queue_path, params in items:
            element = ET.SubElement(root, tag)
            ET.SubElement(element, "queue-name").text = queue_path
            params_element = ET.SubElement(element, "params")
            for key, value in params.items():
                entry = ET.SubElement(params_element, "entry")
                ET.SubElement(entry, "key").text = key
                ET.SubElement(entry, "value").text = value
    for queue_path in remove:
        ET.SubElement(root, "remove-queue").text = queue_path
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def parse_configuration_xml(body: bytes) -> Conf:
    # The ResourceManager is a configured, trusted endpoint and Python's expat refuses
    # entity-expansion bombs; no external entities are resolved by ElementTree.
    root = ET.fromstring(body)  # noqa: S314
    conf: Conf = {}
    for prop in root.iter("property"):
        name = (prop.findtext("name") or "").strip()
        if name:
            conf[name] = (prop.findtext("value") or "").strip()
    return conf


def _as_list(value: Any) -> list[dict[str, Any]]:
    """Jersey's JSON renders a one-element array as a bare object on older releases."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def walk_scheduler(info: dict[str, Any], path: str = "root") -> Iterator[tuple[str, dict]]:
    """(full queue path, queue object) for every queue of a `schedulerInfo` tree."""
    yield path, info
    for child in _as_list((info.get("queues") or {}).get("queue")):
        child_path = child.get("queuePath") or f"{path}.{child.get('queueName')}"
        yield from walk_scheduler(child, child_path)


class _Repeated(list):
    """Values of a key that occurs more than once in one JSON object."""


def _keep_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` that keeps every value of a repeated key, as a list.

    Jersey 1 (Hadoop 3.x) renders a `Map` such as `resourceSecondsMap` as an object with
    one `"entry"` key per map entry, i.e. the same key repeated; a plain `json.loads`
    would keep only the last entry."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key not in result:
            result[key] = value
        elif isinstance(result[key], _Repeated):
            result[key].append(value)
        else:
            result[key] = _Repeated([result[key], value])
    return result


def _seconds(value: Any, what: str) -> int:
    """A resource-seconds figure: a JSON number or, in map entries, a decimal string."""
    if isinstance(value, bool):
        raise ValueError(f"{what} is not a number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = str(value).strip().strip('"')
        if not text.lstrip("-").isdigit():
            raise ValueError(f"{what}={value!r} is not a number")
        number = int(text)
    return max(number, 0)


def started_at(value: Any) -> datetime:
    """`startedTime` (ms since the epoch, when the RM accepted the submission) as naive UTC.

    Every application the RM lists has one (Cluster Applications API, since Hadoop 2.x);
    without it the application could not be told apart from one of an earlier project of
    the same name, so an answer without it is unreadable rather than guessed at."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("startedTime is missing")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"startedTime={value!r} is not a time")
    try:
        return from_epoch_ms(value)
    except OverflowError as exc:
        raise ValueError(f"startedTime={value!r} is out of range") from exc


def resource_seconds(raw: Any) -> dict[str, int]:
    """`resourceSecondsMap` in any of its JSON renderings -> {resource name: seconds}.

    Seen: `{"entry": {"key": k, "value": "n"}}` (one entry), the same key repeated (Jersey 1,
    several entries), `{"entry": [...]}` (a list), a plain `{k: n}` object, `""` or absent
    (an empty map under Jersey 2, or a Hadoop 2 RM that has no such map)."""
    if not raw or not isinstance(raw, dict):
        return {}
    if "entry" not in raw:
        return {str(k): _seconds(v, str(k)) for k, v in raw.items()}
    values: dict[str, int] = {}
    for entry in _as_list(raw.get("entry")):
        if isinstance(entry, dict) and entry.get("key") is not None:
            key = str(entry["key"])
            values[key] = _seconds(entry.get("value", 0), key)
    return values


def _used_gpus(used: dict[str, Any], gpu_resource: str | None) -> int:
    infos = (used.get("resourceInformations") or {}).get("resourceInformation")
    for item in _as_list(infos):
        if gpu_resource and item.get("name") == gpu_resource:
            return int(item.get("value") or 0)
    return 0


class YarnCompute:
    """`ComputeBackend` over the ResourceManager REST API (Capacity Scheduler).

    rm_url        ResourceManager web address, e.g. `https://rm.example.org:8090`
                  (`yarn.resourcemanager.webapp.https.address`).
    parent_queue  queue path that holds the project queues (configured by the deployment).
    spare_queue   leaf under `parent_queue` holding the unallocated capacity.
    user          sent as `user.name` (Hadoop pseudo authentication); must be a YARN admin
                  (`yarn.admin.acl`) or an administrator of `parent_queue`.
    auth          any other `httpx.Auth` (e.g. SPNEGO via a plugin) instead of `user`.
    gpu_resource  the GPU resource type name, `None` on a cluster without GPU scheduling.
    timeout, connect_timeout, verify, ca_file, client_cert: see `backends.http`.
    """

    def __init__(
        self,
        rm_url: str,
        *,
        parent_queue: str = "root.projects",
        spare_queue: str = "hops__unallocated",
        user: str | None = None,
        auth: httpx.Auth | None = None,
        gpu_resource: str | None = "yarn.io/gpu",
        timeout: float = 5.0,
        connect_timeout: float = 3.0,
        verify: bool = True,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> None:
        self.parent_queue = parent_queue
        self.spare_queue = spare_queue
        self.spare_path = f"{parent_queue}.{spare_queue}"
        self.gpu_resource = gpu_resource
        self._client = make_client(
            rm_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            verify=verify,
            ca_file=ca_file,
            client_cert=client_cert,
            auth=auth,
            params={"user.name": user} if user else None,
        )
        # One mutation at a time from this process; other writers are caught by the
        # re-plan-on-400 loop in `_mutate`.
        self._lock = threading.RLock()

    def close(self) -> None:
        self._client.close()

    # -- wire ---------------------------------------------------------------------------

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 403:
            raise BackendUnavailable(
                SYSTEM, f"{what}: the platform's YARN user is not a queue administrator (403)"
            )
        if response.status_code >= 400:
            raise BackendUnavailable(
                SYSTEM, f"{what} answered {response.status_code}: {snippet(response)}"
            )

    def _conf(self) -> Conf:
        response = send(
            self._client, SYSTEM, "GET", SCHEDULER_CONF, headers={"Accept": "application/xml"}
        )
        # A 400 here means the scheduler is not mutable (file-based configuration store).
        self._check(response, "reading the scheduler configuration")
        try:
            return parse_configuration_xml(response.content)
        except ET.ParseError as exc:
            raise BackendUnavailable(SYSTEM, f"unreadable scheduler configuration: {exc}") from exc

    def _live(self) -> dict[str, dict[str, Any]]:
        response = send(
            self._client, SYSTEM, "GET", SCHEDULER, headers={"Accept": "application/json"}
        )
        self._check(response, "reading the scheduler")
        try:
            info = response.json()["scheduler"]["schedulerInfo"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailable(SYSTEM, "unreadable scheduler information") from exc
        return dict(walk_scheduler(info, info.get("queuePath") or info.get("queueName") or "root"))

    def _put(self, body: bytes) -> httpx.Response:
        return send(
            self._client,
            SYSTEM,
            "PUT",
            SCHEDULER_CONF,
            content=body,
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
        )

    def _mutate(self, plan: Callable[[Conf], bytes | None]) -> None:
        """Plan a mutation from the current configuration and apply it; re-plan if another
        writer changed the configuration in between (the RM then answers 400)."""
        for attempt in range(1, MUTATION_ATTEMPTS + 1):
            conf = self._conf()
            body = plan(conf)
            if body is None:
                return
            response = self._put(body)
            if response.status_code == 200:
                return
            if response.status_code == 400:
                if attempt < MUTATION_ATTEMPTS and self._conf() != conf:
                    log.info("scheduler configuration changed meanwhile; planning again")
                    continue
                raise BadRequest(
                    f"YARN refused the queue change: {snippet(response)}", code="yarn_refused"
                )
            self._check(response, "changing the scheduler configuration")
        raise Conflict("the YARN scheduler configuration kept changing; try again")

    # -- configuration helpers ---------------------------------------------------------

    def _path(self, project: str) -> str:
        return f"{self.parent_queue}.{project}"

    def _check_layout(self, conf: Conf) -> list[str]:
        children = child_queues(conf, self.parent_queue)
        if not children or self.spare_queue not in children:
            raise BackendUnavailable(
                SYSTEM,
                f"queue {self.parent_queue} with the leaf {self.spare_queue} is not configured "
                "(the deployment's capacity-scheduler.xml must define them)",
            )
        return children

    def _decimal(self, conf: Conf, queue_path: str, name: str, default: str) -> Decimal:
        raw = conf.get(conf_key(queue_path, name), default).strip()
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise BackendUnavailable(
                SYSTEM, f"{conf_key(queue_path, name)}='{raw}' is not a percentage"
            ) from exc
        return HUNDRED if name == "maximum-capacity" and value == -1 else value

    def _spare(self, conf: Conf) -> Decimal:
        return self._decimal(conf, self.spare_path, "capacity", "0")

    def _resources(self, quota: ComputeQuota) -> str:
        if quota.gpus and not self.gpu_resource:
            raise BadRequest("this YARN cluster schedules no GPUs", code="bad_quota")
        text = f"{MEMORY}={quota.memory_mb},{VCORES}={quota.vcores}"
        return text + (f",{self.gpu_resource}={quota.gpus}" if self.gpu_resource else "")

    def _exhausted(self, spare: Decimal, wanted: Decimal) -> Conflict:
        return Conflict(
            f"only {format_percent(spare)} % of {self.parent_queue} is unallocated; "
            f"{format_percent(wanted)} % requested",
            code="compute_capacity_exhausted",
        )

    # -- ComputeBackend -----------------------------------------------------------------

    def create_project_queue(
        self, project: str, capacity_percent: float, max_capacity_percent: float
    ) -> None:
        check_project(project)
        capacity, maximum = check_shares(capacity_percent, max_capacity_percent)
        path = self._path(project)

        def plan(conf: Conf) -> bytes | None:
            children = self._check_layout(conf)
            spare = self._spare(conf)
            if project not in children:
                if spare < capacity:
                    raise self._exhausted(spare, capacity)
                params = {
                    "capacity": format_percent(capacity),
                    "maximum-capacity": format_percent(maximum),
                    "state": "RUNNING",
                }
                spare_params = {"capacity": format_percent(spare - capacity)}
                return sched_conf_xml(
                    add=[(path, params)], update=[(self.spare_path, spare_params)]
                )
            old = self._decimal(conf, path, "capacity", "0")
            params = {}
            updates: list[tuple[str, Params]] = []
            if old != capacity:
                if spare + old < capacity:
                    raise self._exhausted(spare + old, capacity)
                params["capacity"] = format_percent(capacity)
                updates.append(
                    (self.spare_path, {"capacity": format_percent(spare + old - capacity)})
                )
            if self._decimal(conf, path, "maximum-capacity", "100") != maximum:
                params["maximum-capacity"] = format_percent(maximum)
            if _configured_state(conf, path) != "RUNNING":
                params["state"] = "RUNNING"
            if not params:
                return None
            return sched_conf_xml(update=[(path, params), *updates])

        with self._lock:
            self._mutate(plan)

    def _set_state(self, path: str, state: str) -> bool:
        """Set the queue's configured state (RUNNING or STOPPED) unless it already has it;
        False if the queue does not exist."""
        present = True

        def plan(conf: Conf) -> bytes | None:
            nonlocal present
            present = path.rsplit(".", 1)[1] in child_queues(conf, self.parent_queue)
            if not present or _configured_state(conf, path) == state:
                return None
            return sched_conf_xml(update=[(path, {"state": state})])

        self._mutate(plan)
        return present

    def _stop(self, path: str) -> bool:
        """Put the queue in STOPPED state; False if it does not exist."""
        return self._set_state(path, "STOPPED")

    def _refuse_if_busy(self, path: str, why: str) -> None:
        queue = self._live().get(path, {})
        running = int(queue.get("numApplications") or 0)
        if running:
            raise Conflict(
                f"queue {path} still has {running} application(s); {why}", code="queue_busy"
            )

    def _remove(self, path: str) -> None:
        project = path.rsplit(".", 1)[1]

        def plan(conf: Conf) -> bytes | None:
            if project not in child_queues(conf, self.parent_queue):
                return None
            self._check_layout(conf)
            freed = self._decimal(conf, path, "capacity", "0")
            spare = {"capacity": format_percent(self._spare(conf) + freed)}
            return sched_conf_xml(remove=[path], update=[(self.spare_path, spare)])

        self._mutate(plan)

    def delete_project_queue(self, project: str) -> None:
        check_project(project)
        path = self._path(project)
        with self._lock:
            if not self._stop(path):
                return
            self._refuse_if_busy(
                path, "it is stopped (no new ones start); delete again once they finish"
            )
            self._remove(path)

    def set_quota(self, project: str, vcores: int, memory_mb: int, gpus: int) -> None:
        check_project(project)
        quota = check_quota(vcores, memory_mb, gpus)
        wanted = self._resources(quota)
        desired = parse_resources(wanted)
        path = self._path(project)
        key = conf_key(path, "maximum-allocation")
        with self._lock:
            conf = self._conf()
            if project not in child_queues(conf, self.parent_queue):
                raise NotFound(f"project '{project}' has no compute queue")
            current = parse_resources(conf[key]) if conf.get(key) else None
            if current == desired:
                return
            if current is not None and all(v >= current.get(k, 0) for k, v in desired.items()):

                def raise_in_place(conf: Conf) -> bytes | None:
                    if conf.get(key) and parse_resources(conf[key]) == desired:
                        return None
                    return sched_conf_xml(update=[(path, {"maximum-allocation": wanted})])

                self._mutate(raise_in_place)
                return
            self._recreate(project, {"maximum-allocation": wanted})

    def _recreate(self, project: str, changes: Params) -> None:
        """Lowering a live queue's maximum allocation is refused by the RM: stop, remove
        and add the queue again with its previous settings and `changes`."""
        path = self._path(project)
        why = "lowering its container ceiling re-creates the queue, which needs it idle"
        self._refuse_if_busy(path, why)
        conf = self._conf()
        prefix = conf_key(path, "")
        previous = {k[len(prefix) :]: v for k, v in conf.items() if k.startswith(prefix)}
        previous.pop("state", None)
        # A queue stopped for compute credits must come back stopped.
        state = _configured_state(conf, path)
        self._stop(path)
        try:
            self._refuse_if_busy(path, why)  # an application may have arrived before the stop
        except Conflict:
            self._set_state(path, state)
            raise
        self._remove(path)
        params = {**previous, **changes, "state": state}
        capacity = Decimal(previous.get("capacity", "0"))

        def add_back(conf: Conf) -> bytes | None:
            if project in child_queues(conf, self.parent_queue):
                return None
            spare = self._spare(conf)
            if spare < capacity:
                raise self._exhausted(spare, capacity)
            spare_params = {"capacity": format_percent(spare - capacity)}
            return sched_conf_xml(add=[(path, params)], update=[(self.spare_path, spare_params)])

        try:
            self._mutate(add_back)
        except BadRequest:
            # The new settings were refused: put the queue back as it was.
            params = {**previous, "state": state}
            self._mutate(add_back)
            raise

    def _info(self, project: str, conf: Conf, live: dict[str, dict[str, Any]]) -> QueueInfo:
        path = self._path(project)
        raw = conf.get(conf_key(path, "maximum-allocation"))
        quota = None
        if raw:
            values = parse_resources(raw)
            quota = ComputeQuota(
                vcores=values.get(VCORES, 0),
                memory_mb=values.get(MEMORY, 0),
                gpus=values.get(self.gpu_resource or "", 0),
            )
        node = live.get(path, {})
        used = node.get("resourcesUsed") or {}
        return QueueInfo(
            project=project,
            queue=path,
            state=str(node.get("state") or _configured_state(conf, path)),
            capacity_percent=float(self._decimal(conf, path, "capacity", "0")),
            max_capacity_percent=float(self._decimal(conf, path, "maximum-capacity", "100")),
            quota=quota,
            running_applications=int(node.get("numApplications") or 0),
            used_vcores=int(used.get("vCores") or 0),
            used_memory_mb=int(used.get("memory") or 0),
            used_gpus=_used_gpus(used, self.gpu_resource),
        )

    def queue_info(self, project: str) -> QueueInfo:
        check_project(project)
        conf = self._conf()
        if project not in child_queues(conf, self.parent_queue):
            raise NotFound(f"project '{project}' has no compute queue")
        return self._info(project, conf, self._live())

    def list_project_queues(self) -> list[QueueInfo]:
        conf = self._conf()
        projects = [q for q in self._check_layout(conf) if q != self.spare_queue]
        live = self._live()
        return [self._info(project, conf, live) for project in sorted(projects)]

    # -- compute credits ---------------------------------------------------------------

    def set_queue_state(self, project: str, running: bool) -> None:
        check_project(project)
        if not isinstance(running, bool):
            raise BadRequest("running must be true or false", code="bad_queue_state")
        with self._lock:
            if not self._set_state(self._path(project), QUEUE_STATES[running]):
                raise NotFound(f"project '{project}' has no compute queue")

    def _applications(self) -> list[dict[str, Any]]:
        response = send(self._client, SYSTEM, "GET", APPS, headers={"Accept": "application/json"})
        self._check(response, "listing the applications")
        try:
            body = json.loads(response.content, object_pairs_hook=_keep_repeated_keys)
            apps = body["apps"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailable(SYSTEM, "unreadable application list") from exc
        # No application at all is rendered `{"apps": null}` (or an empty object).
        apps = _as_list(apps.get("app")) if isinstance(apps, dict) else []
        if not all(isinstance(app, dict) for app in apps):
            raise BackendUnavailable(SYSTEM, "unreadable application list")
        return apps

    def _in_queue(self, app: dict[str, Any], project: str) -> bool:
        queue = str(app.get("queue") or "")
        return queue == self._path(project) if "." in queue else queue == project

    def application_usage(self, project: str) -> list[AppUsage]:
        check_project(project)
        usage: list[AppUsage] = []
        for app in self._applications():
            if not self._in_queue(app, project):
                continue
            app_id = str(app.get("id") or "")
            try:
                by_resource = resource_seconds(app.get("resourceSecondsMap"))
                # The top-level figures are documented since Hadoop 2.x; the map repeats them.
                vcores = _first(app.get("vcoreSeconds"), by_resource.get(VCORES), 0)
                memory = _first(app.get("memorySeconds"), by_resource.get(MEMORY), 0)
                gpus = by_resource.get(self.gpu_resource, 0) if self.gpu_resource else 0
                state = str(app.get("state") or "").upper()
                usage.append(
                    AppUsage(
                        app_id=app_id,
                        project=project,
                        vcore_seconds=_seconds(vcores, "vcoreSeconds"),
                        gpu_seconds=gpus,
                        memory_mb_seconds=_seconds(memory, "memorySeconds"),
                        state=state,
                        finished=state in FINISHED_STATES,
                        started_at=started_at(app.get("startedTime")),
                    )
                )
            except ValueError as exc:
                raise BackendUnavailable(
                    SYSTEM, f"unreadable usage of application {app_id}: {exc}"
                ) from exc
        return sorted(usage, key=lambda item: item.app_id)


def _first(*values: Any) -> Any:
    return next(value for value in values if value is not None and value != "")


def _configured_state(conf: Conf, path: str) -> str:
    return conf.get(conf_key(path, "state"), "RUNNING").strip().upper() or "RUNNING"
