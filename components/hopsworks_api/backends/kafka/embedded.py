"""`EmbeddedKafka`: the embedded default when no Kafka cluster is configured.

There is no broker: nobody can produce or consume. What it keeps is the platform's side of
Kafka, topics (with their settings) and ACLs, applying exactly the rules `ClusterKafka`
applies (names, sizes, quota, collisions, the ACL model), so that the control service runs
on one machine with no other server, its API answers the same, and `hops reconcile` can
compare desired and actual state. Pointing the service at a real cluster later needs no
change anywhere else.

The state must outlive restarts, so it is on disk: one JSON document per project,
``<directory>/projects/<project>.json`` (its topics, the ACLs on its topics and groups, and a
hint described below), read fresh under a lock by every operation (so several processes or
instances sharing the directory agree) and replaced atomically (`ProjectDocuments`: write a
temporary file, fsync, rename, fsync the directory; flock on ``.kafka-state.lock``), so a
crash leaves each document old or new, never half of either. An operation reads and writes
the documents of the projects it names, never the others: granting a member of a new
project costs the same with ten projects or ten thousand.

Cross-project state, and how it stays O(1) per change:

- **Topic-name collisions** (``ab.x_t`` vs ``ab_x.t``) span projects. No index is needed:
  the topics that can collide with ``p.t`` are the names obtained by turning one ``_`` of
  ``p_t`` back into the ``.``, so only the projects named by those prefixes (as many as the
  name has underscores) are read.
- **ACLs of shared topics** are held by principals of another project. An ACL is stored
  with the resource it is on (``<owner>.json``: a share of A's topic with B's members is in
  A's document, next to the topic, so deleting the topic drops its shares in the same
  write). B's document lists in ``held_in`` the projects whose documents hold ACLs of B's
  principals; `revoke_member`, `delete_project` and `describe_acls` of B read B's document
  and those. The hint is derived, kept exact by every change (added before the ACLs it
  points to are written, removed after they are gone), so a crash can only leave it a
  superset, which costs a useless read and nothing else; it never goes missing.

``describe_acls(None)`` and nothing else reads every document. An unreadable document is
reported (BackendUnavailable) by every operation that needs it until it is repaired, never
taken for an empty one.

Records the control service produces itself (the inference log, `produce`) are appended,
one JSON line each, to ``<directory>/records/<project>.<topic>.jsonl``, outside the
documents (a record must not rewrite a project's document); `records` reads them back. A
file past ``RETAIN_BYTES`` becomes ``.jsonl.1`` (replacing the older one), so a topic keeps
between one and two times that, like a broker's size-based retention. Deleting the topic
or the project removes its records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.jsonstate import ProjectDocuments, Transaction
from hopsworks_api.backends.kafka.base import (
    SEPARATOR,
    SHARE_WRITE_OPERATIONS,
    SYSTEM,
    AclEntry,
    ProduceStats,
    TopicInfo,
    check_quota,
    check_share,
    collides,
    collision_key,
    concerns,
    member_acls,
    physical_topic,
    principal,
    principal_project,
    share_acls,
    split_physical,
    validate_project,
    validate_sizes,
)
from hopsworks_api.errors import BadRequest, Conflict, NotFound

LOCK_FILE = ".kafka-state.lock"
PROJECTS_DIR = "projects"
OTHER = "0-other"
"""The document of ACLs that belong to no project (the platform grants none; kept so that
every ACL has a home, and read by the collision check). It cannot be a project's: project
names start with a letter."""
FORMAT_VERSION = 1
RECORDS_DIR = "records"
RETAIN_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)


def _is_project(name: str | None) -> bool:
    if not name:
        return False
    try:
        validate_project(name)
    except BadRequest:
        return False
    return True


def _holder(acl: AclEntry) -> str | None:
    """The project whose member holds the ACL (None for other principals)."""
    project = principal_project(acl.principal)
    return project if _is_project(project) else None


def _home(acl: AclEntry) -> str:
    """The document an ACL is kept in: its resource's project, else its holder's."""
    if acl.resource_type in ("topic", "group"):
        owner, sep, _ = acl.resource_name.partition(SEPARATOR)
        if sep and _is_project(owner):
            return owner
    return _holder(acl) or OTHER


class _Doc:
    """One decoded document: topics by physical name, ACL entries, and ``held_in``."""

    def __init__(self, raw: dict[str, Any] | None) -> None:
        raw = raw or {"version": FORMAT_VERSION}
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown format version {raw.get('version')!r}")
        self.topics: dict[str, dict[str, int]] = {
            name: {"partitions": int(t["partitions"]), "replication": int(t["replication"])}
            for name, t in raw.get("topics", {}).items()
        }
        self.acls: set[AclEntry] = {AclEntry(*row) for row in raw.get("acls", [])}
        self.held_in: set[str] = {str(p) for p in raw.get("held_in", [])}

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
            "held_in": sorted(self.held_in),
        }

    def holders(self, key: str) -> set[str]:
        """Other projects whose principals hold ACLs kept here."""
        return {h for h in map(_holder, self.acls) if h is not None and h != key}

    def info(self, physical: str) -> TopicInfo:
        split = split_physical(physical)
        assert split is not None
        settings = self.topics[physical]
        return TopicInfo(
            split[0], split[1], physical, settings["partitions"], settings["replication"]
        )


def _is_empty(raw: dict[str, Any]) -> bool:
    return not raw.get("topics") and not raw.get("acls") and not raw.get("held_in")


class _Session:
    """The documents one locked operation uses. `finish` brings the ``held_in`` hints in
    line with the ACLs and writes the changed documents: gained hints first, then the
    ACLs, then lost hints (so a crash never leaves an ACL its holder cannot find)."""

    def __init__(self, tx: Transaction, documents: ProjectDocuments) -> None:
        self._tx = tx
        self._documents = documents
        self._docs: dict[str, _Doc] = {}
        self._holders: dict[str, set[str]] = {}

    def doc(self, key: str) -> _Doc:
        if key not in self._docs:
            try:
                raw = self._tx.get(key)
            except ValueError as exc:
                raise BackendUnavailable(SYSTEM, str(exc)) from exc
            try:
                doc = _Doc(raw)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Never start over silently: an empty state would make reconcile "repair"
                # by dropping every topic and ACL the DB still expects.
                raise BackendUnavailable(
                    SYSTEM, f"state file {self._documents.path(key)} is unreadable: {exc}"
                ) from exc
            self._docs[key] = doc
            self._holders[key] = doc.holders(key)
        return self._docs[key]

    def all_docs(self) -> Iterator[_Doc]:
        for key in self._documents.names():
            yield self.doc(key)

    def add(self, acls: Iterable[AclEntry]) -> None:
        for acl in acls:
            self.doc(_home(acl)).acls.add(acl)

    def finish(self) -> None:
        gained: set[str] = set()
        lost: set[str] = set()
        for key in list(self._docs):
            doc = self._docs[key]
            before, after = self._holders[key], doc.holders(key)
            for holder in after - before:
                self.doc(holder).held_in.add(key)
                gained.add(holder)
            for holder in before - after:
                self.doc(holder).held_in.discard(key)
                lost.add(holder)
        for key, doc in self._docs.items():
            self._tx.set(key, doc.encode())
        self._tx.flush(sorted(gained))
        self._tx.flush(sorted(k for k in self._docs if k not in lost))
        # the transaction's commit writes the rest: the documents that lost a hint


class EmbeddedKafka:
    """Kafka's metadata (topics, ACLs) kept in ``<directory>/projects/<project>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.documents = ProjectDocuments(
            self.directory / PROJECTS_DIR,
            self.directory / LOCK_FILE,
            is_empty=_is_empty,
        )
        self.produce_stats = ProduceStats()

    # --- persistence ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[_Session]:
        """Lock, let the caller read and change documents, write only the changed ones."""
        with self.documents.transaction() as tx:
            session = _Session(tx, self.documents)
            yield session
            session.finish()

    def _clash(self, session: _Session, physical: str) -> str | None:
        """The existing topic ``physical`` would clash with: one of the names made by
        turning one '_' of its collision key into the '.', so only their projects are read."""
        key = collision_key(physical)
        for i, char in enumerate(key):
            if char != "_":
                continue
            candidate = f"{key[:i]}{SEPARATOR}{key[i + 1 :]}"
            split = split_physical(candidate)
            if candidate != physical and split and candidate in session.doc(split[0]).topics:
                return candidate
        return collides(physical, session.doc(OTHER).topics)

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
        with self._session() as session:
            doc = session.doc(project)
            existing = doc.topics.get(physical)
            if existing is not None:
                if existing != {"partitions": partitions, "replication": replication}:
                    raise Conflict(
                        f"topic '{topic}' already exists in project '{project}' with "
                        f"{existing['partitions']} partitions and replication "
                        f"{existing['replication']}"
                    )
                return doc.info(physical)
            clash = self._clash(session, physical)
            if clash is not None:
                raise Conflict(
                    f"topic '{physical}' would clash with the existing topic '{clash}' "
                    "(Kafka treats '.' and '_' alike in metric names); choose another name"
                )
            check_quota(project, len(doc.topics), max_topics)
            doc.topics[physical] = {"partitions": partitions, "replication": replication}
            return doc.info(physical)

    def delete_topic(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        with self._session() as session:
            doc = session.doc(project)
            doc.acls = {
                a
                for a in doc.acls
                if not (
                    a.resource_type == "topic"
                    and a.pattern_type == "literal"
                    and a.resource_name == physical
                )
            }
            existed = doc.topics.pop(physical, None) is not None
            self._drop_records(physical)
            return existed

    def list_topics(self, project: str) -> list[TopicInfo]:
        validate_project(project)
        with self._session() as session:
            doc = session.doc(project)
            return [doc.info(name) for name in sorted(doc.topics)]

    def topic_exists(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        with self._session() as session:
            return physical in session.doc(project).topics

    # --- members -------------------------------------------------------------------------

    def grant_member(self, project: str, username: str) -> None:
        wanted = member_acls(project, username)
        with self._session() as session:
            session.add(wanted)

    def revoke_member(self, project: str, username: str) -> None:
        who = principal(project, username)
        with self._session() as session:
            own = session.doc(project)
            for key in [project, *sorted(own.held_in)]:
                doc = session.doc(key)
                doc.acls = {a for a in doc.acls if a.principal != who}

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
        with self._session() as session:
            doc = session.doc(owner_project)
            if physical not in doc.topics:
                raise NotFound(f"topic '{topic}' not found in project '{owner_project}'")
            for username in target_usernames:
                wanted = share_acls(owner_project, topic, target_project, username, writable)
                doc.acls |= wanted
                if not writable:
                    who = principal(target_project, username)
                    doc.acls = {
                        a
                        for a in doc.acls
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

        with self._session() as session:
            doc = session.doc(owner_project)
            doc.acls = {a for a in doc.acls if not removed(a)}

    # --- projects ------------------------------------------------------------------------

    def delete_project(self, project: str) -> None:
        validate_project(project)
        with self._session() as session:
            own = session.doc(project)
            for key in sorted(own.held_in):
                doc = session.doc(key)
                doc.acls = {a for a in doc.acls if not concerns(a, project)}
            own.acls = {a for a in own.acls if not concerns(a, project)}
            for physical in own.topics:
                self._drop_records(physical)
            own.topics.clear()

    def describe_acls(self, project: str | None = None) -> list[AclEntry]:
        if project is not None:
            validate_project(project)
        with self._session() as session:
            if project is None:
                return sorted(a for doc in session.all_docs() for a in doc.acls)
            own = session.doc(project)
            found = {a for a in own.acls if concerns(a, project)}
            for key in own.held_in:
                found |= {a for a in session.doc(key).acls if concerns(a, project)}
            return sorted(found)

    # --- records -------------------------------------------------------------------------

    def _records(self, physical: str) -> Path:
        return self.directory / RECORDS_DIR / f"{physical}.jsonl"

    def _drop_records(self, physical: str) -> None:
        path = self._records(physical)
        for old in (path, path.with_name(path.name + ".1")):
            old.unlink(missing_ok=True)

    def produce(self, project: str, topic: str, key: bytes, value: bytes) -> None:
        physical = physical_topic(project, topic)
        line = json.dumps(
            {
                "timestamp_ms": int(time.time() * 1000),
                "key": key.decode("utf-8", "surrogateescape"),
                "value": value.decode("utf-8", "surrogateescape"),
            }
        ).encode()
        path = self._records(physical)
        try:
            # under the documents' lock: the topic cannot go between the check and the
            # append, appends never interleave, and a rotation never races one
            with self._session() as session:
                if physical not in session.doc(project).topics:
                    raise FileNotFoundError(f"topic '{physical}' does not exist")
                path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_size >= RETAIN_BYTES:
                        os.replace(path, path.with_name(path.name + ".1"))
                with open(path, "ab") as out:
                    out.write(line + b"\n")
        except (OSError, BackendUnavailable) as exc:
            self.produce_stats.count(ok=False)
            log.warning("could not append a record", extra={"topic": physical, "error": str(exc)})
            return
        self.produce_stats.count(ok=True)

    def flush(self, timeout_s: float) -> int:
        return 0  # every record is written before `produce` returns

    def records(self, project: str, topic: str) -> list[tuple[bytes, bytes]]:
        """The topic's retained records, oldest first, as (key, value)."""
        path = self._records(physical_topic(project, topic))
        rows: list[dict[str, str]] = []
        with self._session():  # not in the middle of an append or a rotation
            for part in (path.with_name(path.name + ".1"), path):
                with contextlib.suppress(FileNotFoundError), open(part, "rb") as lines:
                    rows.extend(json.loads(line) for line in lines)
        return [
            (
                row["key"].encode("utf-8", "surrogateescape"),
                row["value"].encode("utf-8", "surrogateescape"),
            )
            for row in rows
        ]
