"""Storage: a project's tree with one directory per dataset; shares are ACLs for the target
project's group on the owner's dataset."""

from __future__ import annotations

from hopsworks_api.provisioning.systems.base import Pass

SYSTEM = "storage"


def converge(run: Pass) -> None:
    storage, world = run.backends.storage, run.world
    for name in world.names():
        desired = world.want.get(name)
        if desired is None:
            if storage.project_exists(name):
                run.found(
                    SYSTEM,
                    name,
                    "files of a project that does not exist",
                    lambda name=name: storage.delete_project(name),
                    destructive=True,
                )
            continue
        if not storage.project_exists(name):
            run.found(
                SYSTEM, name, "project directory missing", lambda n=name: storage.create_project(n)
            )
        for dataset in desired.datasets:
            if run.dry_run and not storage.project_exists(name):
                continue
            if storage.stat(name, dataset, ()) is None:
                run.found(
                    SYSTEM,
                    name,
                    f"dataset directory '{dataset}' missing",
                    lambda n=name, d=dataset: storage.create_dataset(n, d),
                )
                continue
            _share_groups(run, name, dataset, desired.dataset_shares.get(dataset, {}))


def _share_groups(run: Pass, name: str, dataset: str, expected: dict[str, bool]) -> None:
    storage = run.backends.storage
    actual = storage.share_groups(name, dataset)
    for group, writable in sorted(expected.items()):
        if actual.get(group) is not writable:
            run.found(
                SYSTEM,
                name,
                f"share of '{dataset}' with '{group}' missing or wrong in its ACL",
                lambda d=dataset, g=group, w=writable: storage.grant_group(name, d, g, w),
            )
    for group in sorted(set(actual) - set(expected)):
        run.found(
            SYSTEM,
            name,
            f"ACL of '{dataset}' grants '{group}' without a share",
            lambda d=dataset, g=group: storage.revoke_group(name, d, g),
        )
