"""`NoKafka`: the embedded default when no Kafka cluster is configured.

There is no broker: nobody can produce or consume. What it keeps is the platform's side of
Kafka, topics (with their settings) and ACLs, applying exactly the rules `ClusterKafka`
applies (names, sizes, quota, collisions, the ACL model), so that the control service runs
on one machine with no other server, its API answers the same, and `hops reconcile` can
compare desired and actual state. Pointing the service at a real cluster later needs no
change anywhere else.

The state is one small JSON file, not memory, because it must outlive restarts: it is read
fresh under a lock by every operation (so several processes or instances sharing the
directory agree) and replaced atomically (write a temporary file, fsync, rename, fsync the
directory), so a crash leaves the old state or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kafka.base import (
    SHARE_WRITE_OPERATIONS,
    SYSTEM,
    AclEntry,
    TopicInfo,
    check_quota,
    check_share,
    collides,
    concerns,
    member_acls,
    physical_topic,
    principal,
    principal_project,
    project_prefix,
    share_acls,
    split_physical,
    validate_project,
    validate_sizes,
)
from hopsworks_api.errors import Conflict, NotFound

STATE_FILE = "kafka-state.json"
LOCK_FILE = ".kafka-state.lock"
FORMAT_VERSION = 1


class _State:
    """The decoded file: topics by physical name, and the set of ACL entries."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.topics: dict[str, dict[str, int]] = {
            name: {"partitions": int(t["partitions"]), "replication": int(t["replication"])}
            for name, t in raw.get("topics", {}).items()
        }
        self.acls: set[AclEntry] = {AclEntry(*row) for row in raw.get("acls", [])}

    def encode(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "topics": dict(sorted(self.topics.items())),
            "acls": [
                [
                    a.resource_type,
                    a.resource_name,
                    a.pattern_type,
                    a.principal,
                    a.operation,
                    a.host,
                    a.permission,
                ]
                for a in sorted(self.acls)
            ],
        }

    def info(self, physical: str) -> TopicInfo:
        split = split_physical(physical)
        assert split is not None
        settings = self.topics[physical]
        return TopicInfo(
            split[0], split[1], physical, settings["partitions"], settings["replication"]
        )

    def project_topics(self, project: str) -> list[str]:
        prefix = project_prefix(project)
        return sorted(name for name in self.topics if name.startswith(prefix))


class NoKafka:
    """Kafka's metadata (topics, ACLs) kept in ``<directory>/kafka-state.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / STATE_FILE
        self._lock_path = self.directory / LOCK_FILE
        self._thread_lock = threading.Lock()

    # --- persistence ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise with other threads and with other processes using the same directory."""
        with self._thread_lock, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _load(self) -> _State:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _State({})
        try:
            raw = json.loads(text)
            if raw.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown format version {raw.get('version')!r}")
            return _State(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Never start over silently: an empty state would make reconcile "repair" by
            # dropping every topic and ACL the DB still expects.
            raise BackendUnavailable(
                SYSTEM, f"state file {self.path} is unreadable: {exc}"
            ) from exc

    def _save(self, state: _State) -> None:
        data = json.dumps(state.encode(), indent=1, sort_keys=False).encode()
        fd, temp = tempfile.mkstemp(prefix=".kafka-state.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[_State]:
        """Load, let the caller change, save only if something changed."""
        with self._locked():
            state = self._load()
            before = state.encode()
            yield state
            if state.encode() != before:
                self._save(state)

    def _read(self) -> _State:
        with self._locked():
            return self._load()

    # --- topics --------------------------------------------------------------------------

    def create_topic(
        self,
        project: str,
        topic: str,
        partitions: int = 1,
        replication: int = 1,
        *,
        max_topics: int | None = None,
    ) -> TopicInfo:
        physical = physical_topic(project, topic)
        validate_sizes(partitions, replication)
        with self._transaction() as state:
            existing = state.topics.get(physical)
            if existing is not None:
                if existing != {"partitions": partitions, "replication": replication}:
                    raise Conflict(
                        f"topic '{topic}' already exists in project '{project}' with "
                        f"{existing['partitions']} partitions and replication "
                        f"{existing['replication']}"
                    )
                return state.info(physical)
            clash = collides(physical, state.topics)
            if clash is not None:
                raise Conflict(
                    f"topic '{physical}' would clash with the existing topic '{clash}' "
                    "(Kafka treats '.' and '_' alike in metric names); choose another name"
                )
            check_quota(project, len(state.project_topics(project)), max_topics)
            state.topics[physical] = {"partitions": partitions, "replication": replication}
            return state.info(physical)

    def delete_topic(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        with self._transaction() as state:
            state.acls = {
                a
                for a in state.acls
                if not (
                    a.resource_type == "topic"
                    and a.pattern_type == "literal"
                    and a.resource_name == physical
                )
            }
            return state.topics.pop(physical, None) is not None

    def list_topics(self, project: str) -> list[TopicInfo]:
        validate_project(project)
        state = self._read()
        return [state.info(name) for name in state.project_topics(project)]

    def topic_exists(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        return physical in self._read().topics

    # --- members -------------------------------------------------------------------------

    def grant_member(self, project: str, username: str) -> None:
        wanted = member_acls(project, username)
        with self._transaction() as state:
            state.acls |= wanted

    def revoke_member(self, project: str, username: str) -> None:
        who = principal(project, username)
        with self._transaction() as state:
            state.acls = {a for a in state.acls if a.principal != who}

    # --- sharing -------------------------------------------------------------------------

    def share_topic(
        self,
        owner_project: str,
        topic: str,
        target_project: str,
        target_usernames: Sequence[str],
        writable: bool,
    ) -> None:
        physical = physical_topic(owner_project, topic)
        check_share(owner_project, target_project, target_usernames)
        with self._transaction() as state:
            if physical not in state.topics:
                raise NotFound(f"topic '{topic}' not found in project '{owner_project}'")
            for username in target_usernames:
                wanted = share_acls(owner_project, topic, target_project, username, writable)
                state.acls |= wanted
                if not writable:
                    who = principal(target_project, username)
                    state.acls = {
                        a
                        for a in state.acls
                        if not (
                            a.resource_name == physical
                            and a.pattern_type == "literal"
                            and a.resource_type == "topic"
                            and a.principal == who
                            and a.operation in SHARE_WRITE_OPERATIONS
                        )
                    }

    def unshare_topic(
        self,
        owner_project: str,
        topic: str,
        target_project: str,
        target_usernames: Sequence[str] | None = None,
    ) -> None:
        physical = physical_topic(owner_project, topic)
        check_share(owner_project, target_project, target_usernames or ())
        names = (
            None
            if target_usernames is None
            else {principal(target_project, u) for u in target_usernames}
        )

        def removed(a: AclEntry) -> bool:
            if not (
                a.resource_type == "topic"
                and a.pattern_type == "literal"
                and a.resource_name == physical
            ):
                return False
            if names is None:
                return principal_project(a.principal) == target_project
            return a.principal in names

        with self._transaction() as state:
            state.acls = {a for a in state.acls if not removed(a)}

    # --- projects ------------------------------------------------------------------------

    def delete_project(self, project: str) -> None:
        validate_project(project)
        with self._transaction() as state:
            state.acls = {a for a in state.acls if not concerns(a, project)}
            for name in state.project_topics(project):
                del state.topics[name]

    def describe_acls(self, project: str | None = None) -> list[AclEntry]:
        if project is not None:
            validate_project(project)
        acls = self._read().acls
        return sorted(a for a in acls if project is None or concerns(a, project))
