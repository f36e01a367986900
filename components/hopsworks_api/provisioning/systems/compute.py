"""YARN (or the embedded compute): one queue per project, stopped while its prepaid credits
are spent, with a container ceiling that carries the project's GPU quota."""

from __future__ import annotations

from hopsworks_api.backends.compute.base import ComputeQuota, QueueInfo
from hopsworks_api.errors import NotFound
from hopsworks_api.provisioning.desired import ProjectState
from hopsworks_api.provisioning.systems.base import Pass

SYSTEM = "yarn"


def container_quota(run: Pass, gpus: int | None) -> ComputeQuota:
    settings = run.settings
    return ComputeQuota(
        vcores=settings.project_container_vcores,
        memory_mb=settings.project_container_memory_mb,
        gpus=settings.project_container_max_gpus if gpus is None else gpus,
    )


def converge(run: Pass) -> None:
    compute, settings, world = run.backends.compute, run.settings, run.world
    queues = {q.project: q for q in _queues(run)}
    for name in world.names(queues):
        desired = world.want.get(name)
        if desired is None:
            if name in queues:
                run.found(
                    SYSTEM,
                    name,
                    "queue of a project that does not exist",
                    lambda name=name: compute.delete_project_queue(name),
                    destructive=True,
                )
            continue
        stopped = desired.compute_stopped
        if name not in queues:

            def recreate(name: str = name, desired: ProjectState = desired) -> None:
                compute.create_project_queue(
                    name, settings.project_queue_capacity, settings.project_queue_max_capacity
                )
                if desired.gpus is not None:
                    _set_quota(run, name, desired.gpus)
                if desired.compute_stopped:
                    compute.set_queue_state(name, running=False)

            run.found(SYSTEM, name, "queue missing", recreate)
            continue
        queue = queues[name]
        if stopped != (queue.state != "RUNNING"):
            run.found(
                SYSTEM,
                name,
                "queue should be stopped (credits spent)" if stopped else "queue should run",
                lambda name=name, stopped=stopped: compute.set_queue_state(
                    name, running=not stopped
                ),
            )
        _quota(run, queue, desired)


def _queues(run: Pass) -> list[QueueInfo]:
    """Every project queue for a repair; a change asks about its projects only."""
    compute = run.backends.compute
    if run.world.scope is None:
        return compute.list_project_queues()
    found = []
    for name in sorted(run.world.scope):
        try:
            found.append(compute.queue_info(name))
        except NotFound:
            continue
    return found


def _quota(run: Pass, queue: QueueInfo, desired: ProjectState) -> None:
    """A queue that never had a ceiling set runs with the system's default, which is what a
    project without a GPU quota gets."""
    if queue.quota is None and desired.gpus is None:
        return
    if queue.quota != container_quota(run, desired.gpus):
        run.found(
            SYSTEM,
            desired.name,
            "container ceiling differs from the project's GPU quota",
            lambda: _set_quota(run, desired.name, desired.gpus),
        )


def _set_quota(run: Pass, name: str, gpus: int | None) -> None:
    quota = container_quota(run, gpus)
    run.backends.compute.set_quota(name, quota.vcores, quota.memory_mb, quota.gpus)
