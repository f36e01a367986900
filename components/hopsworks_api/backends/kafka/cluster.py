"""`ClusterKafka`: the Kafka backend over a real cluster, through confluent-kafka's AdminClient.

Topics: CreateTopics / DeleteTopics / Metadata. ACLs: CreateAcls / DescribeAcls / DeleteAcls
(KIP-140), reached through `AclAdmin`, a seam the AdminClient itself satisfies. The seam
exists because the only Kafka-protocol broker that runs here (Tansu) has no ACL support,
so tests run topics against Tansu and ACLs against a contract fake of the same API.

Bounded time: each public operation has one deadline (``request_timeout_s``); every request
it makes gets the time left as its librdkafka ``request_timeout``/``operation_timeout``, and
every future is awaited with that bound too. A broker that is down or silent therefore gives
``BackendUnavailable("kafka", ...)`` after about ``request_timeout_s``, never a hang.

The admin client must authenticate as a Kafka super user (``super.users`` on the brokers):
it creates topics and ACLs for every tenant. See docs/backends-kafka.md.

Records the service writes itself (the inference log) go through one confluent-kafka
``Producer`` with the same connection and TLS identity, made on first use. `produce` only
enqueues (librdkafka batches for ``linger.ms``); a thread serves delivery reports. A record
not acknowledged within ``request_timeout_s`` (``message.timeout.ms``), or refused at once
(queue full, too large, topic unknown), is logged and counted in `produce_stats`, never
raised: its writer (a prediction) has answered already. Topics are never auto-created by
producing (``allow.auto.create.topics`` off), so the quota holds.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kafka.base import (
    SHARE_WRITE_OPERATIONS,
    SYSTEM,
    AclEntry,
    ProduceStats,
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
from hopsworks_api.errors import AppError, BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)
librdkafka_log = logging.getLogger("hopsworks_api.backends.kafka.librdkafka")

DEFAULT_TIMEOUT_S = 5.0
PRODUCE_QUEUE_MESSAGES = 10_000
"""Records waiting for the broker at most; past it a record is dropped (and counted)."""
PRODUCE_LINGER_MS = 5
_FUTURE_GRACE_S = 1.0  # librdkafka times out first; this only guards against a lost callback

_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._TIMED_OUT_QUEUE,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._DESTROY,
    KafkaError._SSL,
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.NOT_CONTROLLER,
    KafkaError.BROKER_NOT_AVAILABLE,
}
_INVALID_TOPIC = {
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.INVALID_REPLICA_ASSIGNMENT,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.POLICY_VIOLATION,
}
_NOT_ALLOWED = {
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}


class AclAdmin(Protocol):
    """The ACL half of confluent-kafka's AdminClient (KIP-140), as a seam.

    Same signatures and results: `create_acls` maps each binding to a future of None,
    `describe_acls` is one future of the matching bindings, `delete_acls` maps each filter
    to a future of the bindings it deleted. Failures surface as ``KafkaException`` from the
    futures. ``AdminClient`` satisfies it; so does ``tests.support.kafka_acl_fake``.
    """

    def create_acls(
        self, acls: list[AclBinding], **kwargs: Any
    ) -> dict[AclBinding, concurrent.futures.Future[Any]]: ...

    def describe_acls(
        self, acl_binding_filter: AclBindingFilter, **kwargs: Any
    ) -> concurrent.futures.Future[Any]: ...

    def delete_acls(
        self, acl_binding_filters: list[AclBindingFilter], **kwargs: Any
    ) -> dict[AclBindingFilter, concurrent.futures.Future[Any]]: ...


class _Deadline:
    """One time budget for a whole backend operation, shared by the requests it makes."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise BackendUnavailable(
                SYSTEM, f"{self.what}: no answer within {self.seconds:g} s (the configured timeout)"
            )
        return remaining


def _kafka_error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def _code(exc: BaseException) -> int | None:
    err = _kafka_error(exc)
    return err.code() if err is not None else None


def _translate(exc: BaseException, what: str) -> AppError:
    """Map a client failure to the API's errors: the user's mistake is 400, anything the
    cluster did (down, slow, misconfigured, refusing the admin principal) is 503."""
    err = _kafka_error(exc)
    if err is None:
        return BackendUnavailable(SYSTEM, f"{what}: {exc}")
    detail = f"{err.name()}: {err.str()}"
    if err.code() in _INVALID_TOPIC:
        return BadRequest(f"{what}: Kafka refused the topic settings ({detail})")
    if err.code() == KafkaError.SECURITY_DISABLED:
        return BackendUnavailable(
            SYSTEM, f"{what}: the cluster has no authorizer configured, ACLs are disabled"
        )
    if err.code() in _NOT_ALLOWED:
        return BackendUnavailable(
            SYSTEM, f"{what}: the control service's Kafka principal is not a super user ({detail})"
        )
    if err.code() in _UNREACHABLE or err.retriable():
        return BackendUnavailable(SYSTEM, f"{what}: cluster unreachable ({detail})")
    return BackendUnavailable(SYSTEM, f"{what}: {detail}")


def _to_binding(entry: AclEntry) -> AclBinding:
    return AclBinding(
        ResourceType[entry.resource_type.upper()],
        entry.resource_name,
        ResourcePatternType[entry.pattern_type.upper()],
        entry.principal,
        entry.host,
        AclOperation[entry.operation.upper()],
        AclPermissionType[entry.permission.upper()],
    )


def _to_entry(binding: AclBinding) -> AclEntry:
    def name(value: Any) -> str:
        return str(getattr(value, "name", value)).lower()

    return AclEntry(
        name(binding.restype),
        binding.name,
        name(binding.resource_pattern_type),
        binding.principal,
        name(binding.operation),
        binding.host,
        name(binding.permission_type),
    )


def _filter(
    restype: ResourceType,
    name: str | None,
    pattern: ResourcePatternType,
    principal_name: str | None = None,
    operation: AclOperation = AclOperation.ANY,
) -> AclBindingFilter:
    """A DescribeAcls/DeleteAcls filter; None matches any name or principal (as the client's
    documentation and Kafka say; its type hints claim str only)."""
    return AclBindingFilter(
        restype,
        name,  # type: ignore[arg-type]
        pattern,
        principal_name,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        operation,
        AclPermissionType.ANY,
    )


def _exact_filter(binding: AclBinding) -> AclBindingFilter:
    """A DeleteAcls filter that matches exactly one binding."""
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


_ALL_ACLS = _filter(ResourceType.ANY, None, ResourcePatternType.ANY)


class ClusterKafka:
    """Topics and ACLs on a Kafka cluster.

    Connection (librdkafka keys in brackets; see docs/backends-kafka.md):

    - ``bootstrap_servers`` [bootstrap.servers]: "host1:9093,host2:9093".
    - ``security_protocol`` [security.protocol]: "PLAINTEXT" (tests) or "SSL" (production).
    - TLS client identity, as files (``ssl_ca_location``, ``ssl_certificate_location``,
      ``ssl_key_location``, ``ssl_key_password``), a PKCS#12 keystore
      (``ssl_keystore_location``, ``ssl_keystore_password``) or PEM text straight from the
      platform CA (``ssl_ca_pem``, ``ssl_certificate_pem``, ``ssl_key_pem``). The identity
      must be a super user of the cluster.
    - ``request_timeout_s``: the time budget of each operation (default 5 s).
    - ``client_config``: any other librdkafka setting (SASL, ``client.id``, ...); wins.
    - ``acl_admin``: where ACL requests go; defaults to the AdminClient itself.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        security_protocol: str = "PLAINTEXT",
        ssl_ca_location: str | None = None,
        ssl_certificate_location: str | None = None,
        ssl_key_location: str | None = None,
        ssl_key_password: str | None = None,
        ssl_keystore_location: str | None = None,
        ssl_keystore_password: str | None = None,
        ssl_ca_pem: str | None = None,
        ssl_certificate_pem: str | None = None,
        ssl_key_pem: str | None = None,
        request_timeout_s: float = DEFAULT_TIMEOUT_S,
        client_config: Mapping[str, Any] | None = None,
        acl_admin: AclAdmin | None = None,
    ) -> None:
        if request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be positive")
        self.bootstrap_servers = bootstrap_servers
        self.request_timeout_s = request_timeout_s
        timeout_ms = int(request_timeout_s * 1000)
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "security.protocol": security_protocol,
            "client.id": "hopsworks-api",
            "socket.timeout.ms": max(timeout_ms, 10),
            "socket.connection.setup.timeout.ms": max(timeout_ms, 1000),
            "reconnect.backoff.max.ms": 5000,
            "log.connection.close": False,
            "logger": librdkafka_log,
        }
        optional = {
            "ssl.ca.location": ssl_ca_location,
            "ssl.certificate.location": ssl_certificate_location,
            "ssl.key.location": ssl_key_location,
            "ssl.key.password": ssl_key_password,
            "ssl.keystore.location": ssl_keystore_location,
            "ssl.keystore.password": ssl_keystore_password,
            "ssl.ca.pem": ssl_ca_pem,
            "ssl.certificate.pem": ssl_certificate_pem,
            "ssl.key.pem": ssl_key_pem,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        config.update(client_config or {})
        self._config = config
        self._producer: Producer | None = None
        self._producer_lock = threading.Lock()
        self._closed = threading.Event()
        self._reports: threading.Thread | None = None
        self.produce_stats = ProduceStats()
        try:
            self._admin = AdminClient(config)
        except KafkaException as exc:
            raise _translate(exc, "configuring the Kafka admin client") from exc
        self._acls: AclAdmin = acl_admin if acl_admin is not None else self._admin

    def __repr__(self) -> str:  # never show passwords or keys
        return f"ClusterKafka({self.bootstrap_servers!r})"

    # --- plumbing ------------------------------------------------------------------------

    def _deadline(self, what: str) -> _Deadline:
        return _Deadline(self.request_timeout_s, what)

    def _wait(self, future: concurrent.futures.Future[Any], deadline: _Deadline) -> Any:
        try:
            return future.result(timeout=deadline.left() + _FUTURE_GRACE_S)
        except concurrent.futures.TimeoutError as exc:
            raise BackendUnavailable(
                SYSTEM,
                f"{deadline.what}: no answer within {deadline.seconds:g} s "
                "(the configured timeout)",
            ) from exc
        finally:
            self._admin.poll(0)  # deliver librdkafka's queued log lines to Python logging

    def _call(self, deadline: _Deadline, future: concurrent.futures.Future[Any]) -> Any:
        """Await one future, translating client failures."""
        try:
            return self._wait(future, deadline)
        except (KafkaException, RuntimeError) as exc:
            raise _translate(exc, deadline.what) from exc

    def _topics(self, deadline: _Deadline) -> dict[str, Any]:
        """Cluster metadata for all topics. Never asks for one topic by name: a Metadata
        request naming a topic can auto-create it on brokers with auto.create.topics."""
        try:
            return dict(self._admin.list_topics(timeout=deadline.left()).topics)
        except KafkaException as exc:
            raise _translate(exc, deadline.what) from exc
        finally:
            self._admin.poll(0)

    @staticmethod
    def _info(physical: str, metadata: Any) -> TopicInfo:
        project, topic = split_physical(physical) or ("", physical)
        partitions = metadata.partitions
        first = partitions[min(partitions)] if partitions else None
        replication = len(first.replicas) if first is not None else 0
        return TopicInfo(project, topic, physical, len(partitions), replication)

    def _create_acls(self, entries: Iterable[AclEntry], deadline: _Deadline) -> None:
        bindings = [_to_binding(e) for e in sorted(set(entries))]
        if not bindings:
            return
        futures = self._acls.create_acls(bindings, request_timeout=deadline.left())
        for future in futures.values():
            self._call(deadline, future)

    def _delete_acls(
        self, filters: Iterable[AclBindingFilter], deadline: _Deadline
    ) -> list[AclBinding]:
        unique = list(dict.fromkeys(filters))  # the client refuses duplicate filters
        if not unique:
            return []
        futures = self._acls.delete_acls(unique, request_timeout=deadline.left())
        deleted: list[AclBinding] = []
        for future in futures.values():
            deleted.extend(self._call(deadline, future) or [])
        return deleted

    def _describe(self, acl_filter: AclBindingFilter, deadline: _Deadline) -> list[AclBinding]:
        future = self._acls.describe_acls(acl_filter, request_timeout=deadline.left())
        return list(self._call(deadline, future) or [])

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
        deadline = self._deadline(f"creating topic '{physical}'")
        topics = self._topics(deadline)
        if physical in topics:
            return self._same_or_conflict(physical, topics[physical], partitions, replication)
        clash = collides(physical, topics)
        if clash is not None:
            raise Conflict(
                f"topic '{physical}' would clash with the existing topic '{clash}' "
                "(Kafka treats '.' and '_' alike in metric names); choose another name"
            )
        prefix = project_prefix(project)
        check_quota(project, sum(1 for name in topics if name.startswith(prefix)), max_topics)
        futures = self._admin.create_topics(
            [NewTopic(physical, num_partitions=partitions, replication_factor=replication)],
            request_timeout=deadline.left(),
            operation_timeout=deadline.left(),
        )
        try:
            self._wait(futures[physical], deadline)
        except KafkaException as exc:
            if _code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:
                raise _translate(exc, deadline.what) from exc
            # Another creator won the race (or a retried request already succeeded).
            topics = self._topics(deadline)
            if physical in topics:
                return self._same_or_conflict(physical, topics[physical], partitions, replication)
        # Metadata can lag a moment behind CreateTopics on a real cluster: report what was
        # asked for, which is what the broker accepted.
        return TopicInfo(project, topic, physical, partitions, replication)

    def _same_or_conflict(
        self, physical: str, metadata: Any, partitions: int, replication: int
    ) -> TopicInfo:
        info = self._info(physical, metadata)
        if info.partitions != partitions or info.replication not in (replication, 0):
            raise Conflict(
                f"topic '{info.name}' already exists in project '{info.project}' with "
                f"{info.partitions} partitions and replication {info.replication}"
            )
        return TopicInfo(info.project, info.name, physical, partitions, replication)

    def delete_topic(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        deadline = self._deadline(f"deleting topic '{physical}'")
        self._delete_acls(
            [_filter(ResourceType.TOPIC, physical, ResourcePatternType.LITERAL)], deadline
        )
        return self._delete_topics([physical], deadline) == 1

    def _delete_topics(self, names: Sequence[str], deadline: _Deadline) -> int:
        """Delete topics; a topic already gone is fine. Returns how many were deleted."""
        if not names:
            return 0
        futures = self._admin.delete_topics(
            list(names), request_timeout=deadline.left(), operation_timeout=deadline.left()
        )
        deleted = 0
        for future in futures.values():
            try:
                self._wait(future, deadline)
                deleted += 1
            except KafkaException as exc:
                if _code(exc) != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise _translate(exc, deadline.what) from exc
        return deleted

    def list_topics(self, project: str) -> list[TopicInfo]:
        prefix = project_prefix(validate_project(project))
        topics = self._topics(self._deadline(f"listing topics of '{project}'"))
        return sorted(
            self._info(name, metadata)
            for name, metadata in topics.items()
            if name.startswith(prefix) and split_physical(name) is not None
        )

    def topic_exists(self, project: str, topic: str) -> bool:
        physical = physical_topic(project, topic)
        return physical in self._topics(self._deadline(f"looking up topic '{physical}'"))

    # --- members -------------------------------------------------------------------------

    def grant_member(self, project: str, username: str) -> None:
        wanted = member_acls(project, username)
        self._create_acls(wanted, self._deadline(f"granting {principal(project, username)}"))

    def revoke_member(self, project: str, username: str) -> None:
        who = principal(project, username)
        self._delete_acls(
            [_filter(ResourceType.ANY, None, ResourcePatternType.ANY, who)],
            self._deadline(f"revoking {who}"),
        )

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
        deadline = self._deadline(f"sharing topic '{physical}' with '{target_project}'")
        if physical not in self._topics(deadline):
            raise NotFound(f"topic '{topic}' not found in project '{owner_project}'")
        wanted: set[AclEntry] = set()
        for username in target_usernames:
            wanted |= share_acls(owner_project, topic, target_project, username, writable)
        self._create_acls(wanted, deadline)
        if not writable:
            self._delete_acls(
                [
                    _filter(
                        ResourceType.TOPIC,
                        physical,
                        ResourcePatternType.LITERAL,
                        principal(target_project, username),
                        AclOperation[op.upper()],
                    )
                    for username in target_usernames
                    for op in SHARE_WRITE_OPERATIONS
                ],
                deadline,
            )

    def unshare_topic(
        self,
        owner_project: str,
        topic: str,
        target_project: str,
        target_usernames: Sequence[str] | None = None,
    ) -> None:
        physical = physical_topic(owner_project, topic)
        check_share(owner_project, target_project, target_usernames or ())
        deadline = self._deadline(f"unsharing topic '{physical}' from '{target_project}'")
        if target_usernames is not None:
            filters = [
                _filter(
                    ResourceType.TOPIC,
                    physical,
                    ResourcePatternType.LITERAL,
                    principal(target_project, username),
                )
                for username in target_usernames
            ]
        else:
            # Kafka filters match principals exactly, so find the target's by describing.
            on_topic = _filter(ResourceType.TOPIC, physical, ResourcePatternType.LITERAL)
            filters = [
                _exact_filter(b)
                for b in self._describe(on_topic, deadline)
                if principal_project(b.principal) == target_project
            ]
        self._delete_acls(filters, deadline)

    # --- projects ------------------------------------------------------------------------

    def delete_project(self, project: str) -> None:
        prefix = project_prefix(validate_project(project))
        deadline = self._deadline(f"deleting the Kafka resources of '{project}'")
        doomed = [b for b in self._describe(_ALL_ACLS, deadline) if concerns(_to_entry(b), project)]
        self._delete_acls([_exact_filter(b) for b in doomed], deadline)
        topics = self._topics(deadline)
        self._delete_topics(
            sorted(n for n in topics if n.startswith(prefix) and split_physical(n) is not None),
            deadline,
        )
        self._delete_groups(prefix, deadline)

    def _delete_groups(self, prefix: str, deadline: _Deadline) -> None:
        """Drop the project's consumer groups so that a later project of the same name does
        not inherit their committed offsets. A group that still has members (their ACLs are
        already gone) is left for the broker to expire; that is logged, not fatal."""
        listing = self._call(
            deadline, self._admin.list_consumer_groups(request_timeout=deadline.left())
        )
        groups = sorted(g.group_id for g in listing.valid if g.group_id.startswith(prefix))
        if not groups:
            return
        futures = self._admin.delete_consumer_groups(groups, request_timeout=deadline.left())
        for group, future in futures.items():
            try:
                self._wait(future, deadline)
            except KafkaException as exc:
                code = _code(exc)
                if code == KafkaError.GROUP_ID_NOT_FOUND:
                    continue
                if code == KafkaError.NON_EMPTY_GROUP:
                    log.warning("consumer group still has members", extra={"group": group})
                    continue
                raise _translate(exc, deadline.what) from exc

    def describe_acls(self, project: str | None = None) -> list[AclEntry]:
        if project is not None:
            validate_project(project)
        entries = (
            _to_entry(b) for b in self._describe(_ALL_ACLS, self._deadline("describing ACLs"))
        )
        return sorted(e for e in entries if project is None or concerns(e, project))

    # --- records -------------------------------------------------------------------------

    def _get_producer(self) -> Producer:
        with self._producer_lock:
            if self._producer is None:
                config = {
                    **self._config,
                    "client.id": f"{self._config.get('client.id', 'hopsworks-api')}-producer",
                    # librdkafka wants it above linger.ms
                    "message.timeout.ms": max(
                        int(self.request_timeout_s * 1000), 10 * PRODUCE_LINGER_MS
                    ),
                    "linger.ms": PRODUCE_LINGER_MS,
                    "queue.buffering.max.messages": PRODUCE_QUEUE_MESSAGES,
                    "allow.auto.create.topics": False,
                }
                self._producer = Producer(config)
                self._reports = threading.Thread(
                    target=self._serve_reports,
                    args=(self._producer, self._closed),
                    name="kafka-delivery-reports",
                    daemon=True,
                )
                self._reports.start()
            return self._producer

    @staticmethod
    def _serve_reports(producer: Producer, closed: threading.Event) -> None:
        while not closed.is_set():
            producer.poll(0.2)

    def _delivered(self, err: KafkaError | None, message: Any) -> None:
        self.produce_stats.count(ok=err is None)
        if err is not None:
            log.warning(
                "a record was not delivered",
                extra={"topic": message.topic(), "error": f"{err.name()}: {err.str()}"},
            )

    def produce(self, project: str, topic: str, key: bytes, value: bytes) -> None:
        physical = physical_topic(project, topic)
        try:
            self._get_producer().produce(physical, value, key=key, on_delivery=self._delivered)
        except (KafkaException, BufferError) as exc:
            self.produce_stats.count(ok=False)
            log.warning("a record was refused", extra={"topic": physical, "error": str(exc)})

    def flush(self, timeout_s: float) -> int:
        with self._producer_lock:
            producer = self._producer
        return producer.flush(timeout_s) if producer is not None else 0

    def close(self, timeout_s: float = 2.0) -> int:
        """Flush, then let the producer go (its connections close with it); records still
        in flight after ``timeout_s`` are lost and returned as a count. Producing again
        makes a new producer."""
        left = self.flush(timeout_s)
        with self._producer_lock:
            self._closed.set()
            reports, self._reports, self._producer = self._reports, None, None
            self._closed = threading.Event()
        if reports is not None:
            reports.join()
        return left
