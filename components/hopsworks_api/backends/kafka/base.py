"""The Kafka contract: topics owned by projects, access granted by ACLs on tenant principals.

Naming (one rule for every implementation, so state can be compared across them):

- A project's topic ``t`` is the physical Kafka topic ``<project>.<t>``. Hopsworks keeps
  plain names plus an ownership table; a prefix instead makes the owner visible to Kafka
  itself, so two projects can both have a topic ``events`` and one PREFIXED ACL covers
  "all topics of this project", including topics created later. Project names never
  contain ``.`` (see ``hopsworks_api.identity.PROJECT_NAME_RE``) and topic names may not
  either, so ``<project>.`` is an exact, non-overlapping namespace: ``ab.`` is not a
  prefix of any topic of project ``ab_c``.
- Consumer groups of a project are ``<project>.<anything>``.
- Every member acts as ``User:<project>__<username>`` (``identity.project_user``; the CN of
  the member's project certificate), so rights held in project A never apply in B.

ACL model (all ALLOW, host ``*``):

- a member of P: Read, Write, Describe on topics PREFIXED ``P.``, and Read, Describe on
  groups PREFIXED ``P.`` (Read on a group is what joining it and committing offsets need);
- a member of Q reading a topic of P shared with Q: Read, Describe on the LITERAL topic
  ``P.t``; an editable share adds Write. The member consumes with a group of its own
  project (``Q.…``), which it already holds.

Members never get Create, Delete or Alter: topics are created and removed only by the
control service (a super user), which is what makes the max-topics quota enforceable.

Every operation is idempotent and is the undo of another (create/delete topic,
grant/revoke member, share/unshare topic), which is what a saga's compensation and
``hops reconcile`` need: a step can be repeated after a crash without harm.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hopsworks_api.errors import BadRequest, PayloadTooLarge
from hopsworks_api.identity import check_project_name, project_user

SYSTEM = "kafka"
"""The name users see in 503 answers (``BackendUnavailable(SYSTEM, ...)``)."""

TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SEPARATOR = "."
MAX_TOPIC_LENGTH = 249  # Kafka's own limit on a topic name
MAX_PARTITIONS = 10_000
MAX_REPLICATION = 32

ResourceKind = Literal["topic", "group"]
PatternKind = Literal["literal", "prefixed"]

MEMBER_TOPIC_OPERATIONS = ("read", "write", "describe")
MEMBER_GROUP_OPERATIONS = ("read", "describe")
SHARE_READ_OPERATIONS = ("read", "describe")
SHARE_WRITE_OPERATIONS = ("write",)


@dataclass(frozen=True, order=True)
class TopicInfo:
    """A topic as the platform sees it: ``name`` inside ``project``, ``physical`` in Kafka."""

    project: str
    name: str
    physical: str
    partitions: int
    replication: int


@dataclass(frozen=True, order=True)
class AclEntry:
    """One Kafka ACL binding, in plain strings so that every backend (and a JSON file) can
    hold it and reconciliation can compare sets of them.

    The names are Kafka's enum names in lower case: ``resource_type`` "topic" | "group" |
    "cluster" | ..., ``pattern_type`` "literal" | "prefixed", ``operation`` "read" |
    "write" | "describe" | ..., ``permission`` "allow" | "deny".
    """

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    operation: str
    host: str = "*"
    permission: str = "allow"


@dataclass
class ProduceStats:
    """Counts of records the control service itself wrote (the inference log): a write is
    fire-and-forget for its caller, so a failure is only seen here and in the log."""

    delivered: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.delivered += 1
            else:
                self.failed += 1


class KafkaBackend(Protocol):
    """Topics and their access for projects. Every method is idempotent; none hangs: an
    unreachable system raises ``BackendUnavailable("kafka", ...)`` within the
    implementation's configured timeout."""

    def create_topic(
        self,
        project: str,
        topic: str,
        partitions: int = 1,
        replication: int = 1,
        *,
        max_topics: int | None = None,
    ) -> TopicInfo:
        """Create ``<project>.<topic>``; a no-op if it exists with the same settings.

        Raises BadRequest for invalid names or sizes, Conflict if the topic exists with
        other settings (or collides with another topic, see `collides`), and
        PayloadTooLarge ("quota_exceeded") if the project already holds ``max_topics``.
        The service reserves the quota in its DB first; this check is the backstop.
        Undo: `delete_topic`.
        """
        ...

    def delete_topic(self, project: str, topic: str) -> bool:
        """Remove the topic's share ACLs, then the topic; return whether it existed.

        ACLs go first so that a half-done delete never leaves a share that would apply to
        a later topic of the same name."""
        ...

    def list_topics(self, project: str) -> list[TopicInfo]: ...

    def topic_exists(self, project: str, topic: str) -> bool: ...

    def grant_member(self, project: str, username: str) -> None:
        """Give ``User:<project>__<username>`` the member rights on the project's topics
        (PREFIXED ``<project>.``, so topics created later are covered too) and groups.

        Topics shared *into* the project are granted per topic with `share_topic`.
        Undo: `revoke_member`."""
        ...

    def revoke_member(self, project: str, username: str) -> None:
        """Remove every ACL of that principal: member rights and shares into the project."""
        ...

    def share_topic(
        self,
        owner_project: str,
        topic: str,
        target_project: str,
        target_usernames: Sequence[str],
        writable: bool,
    ) -> None:
        """Set those members' of ``target_project`` access to the owner's topic: Read and
        Describe, plus Write when ``writable`` (and Write is removed when not, so calling
        it again with writable=False turns an editable share read-only).

        NotFound if the topic does not exist; BadRequest if sharing with the owner.
        Undo: `unshare_topic`."""
        ...

    def unshare_topic(
        self,
        owner_project: str,
        topic: str,
        target_project: str,
        target_usernames: Sequence[str] | None = None,
    ) -> None:
        """Remove the named target members' (None: all of them) ACLs on the topic."""
        ...

    def delete_project(self, project: str) -> None:
        """Remove all the project's topics and every ACL on its resources or held by its
        members (including their access to topics shared in). No undo: run it last."""
        ...

    def describe_acls(self, project: str | None = None) -> list[AclEntry]:
        """The ACLs that concern ``project`` (on its topics/groups, or held by its members),
        or all ACLs when None, sorted; compare with `expected_acls` to find drift."""
        ...

    produce_stats: ProduceStats

    def produce(self, project: str, topic: str, key: bytes, value: bytes) -> None:
        """Append one record to ``<project>.<topic>`` as the control service, returning at
        once: the write completes (or fails) later. Never raises for the system's failures
        (down, slow, topic gone, record too large): they are logged and counted in
        `produce_stats`, because the caller (a prediction) must not wait for or fail on it.
        Raises BadRequest only for invalid names."""
        ...

    def flush(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for records still in flight; how many are left."""
        ...


# --- names -------------------------------------------------------------------------------


def validate_project(project: str) -> str:
    try:
        return check_project_name(project)
    except ValueError as exc:
        raise BadRequest(str(exc), code="bad_project_name") from exc


def validate_topic(topic: str) -> str:
    if not isinstance(topic, str) or not TOPIC_NAME_RE.fullmatch(topic):
        raise BadRequest(
            "topic names are 1-201 characters: a letter or digit, then letters, digits, '_' or '-'",
            code="bad_topic_name",
        )
    return topic


def validate_username(username: str) -> str:
    """Usernames end the principal ``<project>__<user>``; forbidding ``__`` in them (and a
    leading ``_``) makes the last ``__`` of a principal the separator, so the owning
    project of a principal is unambiguous even for a project named ``ab_``."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username) or "__" in username:
        raise BadRequest(
            "usernames are 1-64 letters, digits, '_', '.' or '-', start with a letter or "
            "digit and contain no '__'",
            code="bad_username",
        )
    return username


def physical_topic(project: str, topic: str) -> str:
    """``<project>.<topic>``, validated, and within Kafka's 249-character limit."""
    name = f"{validate_project(project)}{SEPARATOR}{validate_topic(topic)}"
    if len(name) > MAX_TOPIC_LENGTH:
        raise BadRequest(
            f"'{name}' is longer than Kafka's limit of {MAX_TOPIC_LENGTH} characters",
            code="bad_topic_name",
        )
    return name


def project_prefix(project: str) -> str:
    """The namespace of a project's topics and consumer groups: ``<project>.``."""
    return f"{project}{SEPARATOR}"


def split_physical(physical: str) -> tuple[str, str] | None:
    """``(project, topic)`` for a platform topic, None for anything else (``__consumer_offsets``,
    topics created outside the platform)."""
    project, sep, topic = physical.partition(SEPARATOR)
    if not sep:
        return None
    try:
        validate_project(project)
        validate_topic(topic)
    except BadRequest:
        return None
    return project, topic


def principal(project: str, username: str) -> str:
    """The Kafka principal of a member: ``User:<project>__<username>``."""
    return f"User:{project_user(validate_project(project), validate_username(username))}"


def principal_project(principal_name: str) -> str | None:
    """The project a tenant principal belongs to, or None for other principals."""
    kind, _, name = principal_name.partition(":")
    if kind != "User":
        return None
    cut = name.rfind("__")
    return name[:cut] if cut > 0 else None


def collision_key(physical: str) -> str:
    """Kafka refuses a topic whose name equals an existing one once '.' is read as '_'
    (their metric names would clash): ``ab.x_t`` and ``ab_x.t`` cannot both exist."""
    return physical.replace(".", "_")


def collides(physical: str, existing: Iterable[str]) -> str | None:
    """The existing topic that ``physical`` would clash with in Kafka, if any."""
    key = collision_key(physical)
    for other in existing:
        if other != physical and collision_key(other) == key:
            return other
    return None


def validate_sizes(partitions: int, replication: int) -> None:
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise BadRequest("partitions must be an integer", code="bad_topic_config")
    if isinstance(replication, bool) or not isinstance(replication, int):
        raise BadRequest("replication must be an integer", code="bad_topic_config")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise BadRequest(f"partitions must be 1-{MAX_PARTITIONS}", code="bad_topic_config")
    if not 1 <= replication <= MAX_REPLICATION:
        raise BadRequest(f"replication must be 1-{MAX_REPLICATION}", code="bad_topic_config")


def check_quota(project: str, current: int, max_topics: int | None) -> None:
    """Raise quota_exceeded when a new topic would take ``project`` past ``max_topics``."""
    if max_topics is not None and current >= max_topics:
        raise PayloadTooLarge(
            f"project '{project}' may hold at most {max_topics} Kafka topics "
            f"and already holds {current}"
        )


# --- the ACL model ----------------------------------------------------------------------


def member_acls(project: str, username: str) -> frozenset[AclEntry]:
    """The bindings `grant_member` creates."""
    who = principal(project, username)
    prefix = project_prefix(project)
    return frozenset(
        [AclEntry("topic", prefix, "prefixed", who, op) for op in MEMBER_TOPIC_OPERATIONS]
        + [AclEntry("group", prefix, "prefixed", who, op) for op in MEMBER_GROUP_OPERATIONS]
    )


def share_acls(
    owner_project: str, topic: str, target_project: str, username: str, writable: bool
) -> frozenset[AclEntry]:
    """The bindings `share_topic` creates for one member of the target project."""
    name = physical_topic(owner_project, topic)
    who = principal(target_project, username)
    ops = SHARE_READ_OPERATIONS + (SHARE_WRITE_OPERATIONS if writable else ())
    return frozenset(AclEntry("topic", name, "literal", who, op) for op in ops)


@dataclass(frozen=True)
class TopicShare:
    """A topic of ``owner_project`` shared with ``target_project`` (as the DB records it)."""

    owner_project: str
    topic: str
    target_project: str
    writable: bool


def expected_acls(
    members: dict[str, Sequence[str]], shares: Iterable[TopicShare]
) -> frozenset[AclEntry]:
    """What the ACLs should be, from the DB's view: ``members`` maps each project to its
    usernames. Compare with `KafkaBackend.describe_acls` to find missing and stray ACLs."""
    wanted: set[AclEntry] = set()
    for project, usernames in members.items():
        for username in usernames:
            wanted |= member_acls(project, username)
    for share in shares:
        for username in members.get(share.target_project, ()):
            wanted |= share_acls(
                share.owner_project, share.topic, share.target_project, username, share.writable
            )
    return frozenset(wanted)


def concerns(entry: AclEntry, project: str) -> bool:
    """Whether an ACL belongs to ``project``: on its topics or groups, or held by one of its
    members. This is what `delete_project` removes and `describe_acls(project)` reports."""
    if principal_project(entry.principal) == project:
        return True
    if entry.resource_type not in ("topic", "group"):
        return False
    owner, sep, _ = entry.resource_name.partition(SEPARATOR)
    return bool(sep) and owner == project


def check_share(owner_project: str, target_project: str, usernames: Sequence[str]) -> None:
    validate_project(owner_project)
    validate_project(target_project)
    if owner_project == target_project:
        raise BadRequest("a topic cannot be shared with the project that owns it")
    if isinstance(usernames, str):
        raise BadRequest("target_usernames must be a list of usernames")
    for username in usernames:
        validate_username(username)
