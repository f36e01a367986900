"""A contract fake of Kafka's ACL admin API, for the tests that cannot use a real broker.

Why a fake: the only Kafka-protocol broker that runs here, Tansu, has no authorizer (its
DescribeAcls answers an empty list and a CreateAcls response makes librdkafka abort the
process), and librdkafka's mock cluster implements no admin request at all. So the ACL
half of `ClusterKafka` is exercised against this object, which has the exact shape of
confluent-kafka's ``AdminClient.create_acls/describe_acls/delete_acls`` and follows Kafka's
documented semantics (KIP-140 AdminClient ACL API, KIP-290 prefixed patterns):

- client side, as confluent-kafka checks before sending: a non-empty list, no duplicates,
  ``AclBinding`` for create and ``AclBindingFilter`` for delete (``ValueError`` otherwise);
- CreateAcls: each binding must be definite (no ANY/MATCH/UNKNOWN), with a non-empty
  resource name, a ``Type:name`` principal and a host; the CLUSTER resource is only
  ``kafka-cluster``; a refused binding fails its own future with INVALID_REQUEST, the
  others succeed; creating a binding that exists is a successful no-op (the authorizer
  stores a set);
- filters (``ResourcePatternFilter.matches`` + ``AccessControlEntryFilter.matches``):
  ResourceType.ANY, a None name/principal/host and AclOperation/AclPermissionType.ANY match
  anything; ResourcePatternType.ANY matches LITERAL and PREFIXED bindings with exactly the
  filter's name; LITERAL/PREFIXED match only that pattern type and exactly that name;
  MATCH matches the bindings that apply to the named resource: LITERAL with that name,
  LITERAL ``*``, and PREFIXED whose name is a prefix of it; principals match exactly;
- DescribeAcls returns the matching bindings; DeleteAcls returns, per filter, the bindings
  that filter matched before any was deleted, and deletes their union.

It can also play an unreachable cluster (``unavailable``: every future fails with
``_TRANSPORT``) or a silent one (``hang``: futures never complete) to test timeouts.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

__all__ = ["FakeAclAdmin", "matches"]

WILDCARD = "*"
CLUSTER_NAME = "kafka-cluster"

_Key = tuple[Any, ...]


def _key(binding: AclBinding) -> _Key:
    return (
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _binding(key: _Key) -> AclBinding:
    return AclBinding(*key)


def matches(acl_filter: AclBindingFilter, binding: AclBinding) -> bool:
    """Kafka's ``AclBindingFilter.matches``: the resource pattern part, then the entry part."""
    if acl_filter.restype != ResourceType.ANY and acl_filter.restype != binding.restype:
        return False
    pattern = acl_filter.resource_pattern_type
    if pattern not in (ResourcePatternType.ANY, ResourcePatternType.MATCH) and (
        pattern != binding.resource_pattern_type
    ):
        return False
    if acl_filter.name is not None:
        if pattern in (ResourcePatternType.ANY, binding.resource_pattern_type):
            if acl_filter.name != binding.name:
                return False
        elif binding.resource_pattern_type == ResourcePatternType.LITERAL:  # MATCH
            if binding.name not in (acl_filter.name, WILDCARD):
                return False
        elif binding.resource_pattern_type == ResourcePatternType.PREFIXED:  # MATCH
            if not acl_filter.name.startswith(binding.name):
                return False
        else:
            return False
    if acl_filter.principal is not None and acl_filter.principal != binding.principal:
        return False
    if acl_filter.host is not None and acl_filter.host != binding.host:
        return False
    if acl_filter.operation != AclOperation.ANY and acl_filter.operation != binding.operation:
        return False
    return acl_filter.permission_type in (AclPermissionType.ANY, binding.permission_type)


def _invalid(message: str) -> KafkaException:
    return KafkaException(KafkaError(KafkaError.INVALID_REQUEST, message))


def _creation_error(binding: AclBinding) -> KafkaException | None:
    """What the broker's CreateAcls validation says about one binding (None: accepted)."""
    if binding.resource_pattern_type not in (
        ResourcePatternType.LITERAL,
        ResourcePatternType.PREFIXED,
    ):
        return _invalid(f"Invalid patternType {binding.resource_pattern_type!s}")
    if binding.restype in (ResourceType.ANY, ResourceType.UNKNOWN):
        return _invalid(f"Invalid resourceType {binding.restype!s}")
    if binding.operation in (AclOperation.ANY, AclOperation.UNKNOWN):
        return _invalid(f"Invalid operation {binding.operation!s}")
    if binding.permission_type not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
        return _invalid(f"Invalid permissionType {binding.permission_type!s}")
    if not binding.name:
        return _invalid("Resource name should not be empty")
    if binding.restype == ResourceType.BROKER and binding.name != CLUSTER_NAME:
        # confluent-kafka's ResourceType.BROKER is Kafka's CLUSTER resource
        return _invalid(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    kind, colon, name = (binding.principal or "").partition(":")
    if not colon or not kind or not name:
        return _invalid(f"Could not parse principal from `{binding.principal}`")
    if not binding.host:
        return _invalid("Invalid host")
    return None


def _filter_error(acl_filter: AclBindingFilter) -> KafkaException | None:
    unknown = (acl_filter.restype, acl_filter.resource_pattern_type)
    if unknown[0] == ResourceType.UNKNOWN or unknown[1] == ResourcePatternType.UNKNOWN:
        return _invalid("filter contains UNKNOWN elements")
    return None


class FakeAclAdmin:
    """Holds ACL bindings in memory and answers like ``AdminClient`` (futures, errors)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bindings: set[_Key] = set()
        self.unavailable = False
        self.hang = False
        self.requests: list[tuple[str, float | None]] = []

    # --- helpers for tests ---------------------------------------------------------------

    def bindings(self) -> list[AclBinding]:
        with self._lock:
            return [_binding(k) for k in sorted(self._bindings, key=repr)]

    def clear(self) -> None:
        with self._lock:
            self._bindings.clear()

    def _future(self) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        return future

    def _settle(
        self,
        future: concurrent.futures.Future[Any],
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        if self.hang:
            return  # a silent broker: the caller's own timeout must save it
        if self.unavailable:
            future.set_exception(
                KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))
            )
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    @staticmethod
    def _check_list(items: Any, cls: type, what: str) -> None:
        if not isinstance(items, list) or not items:
            raise ValueError(f"Expected non-empty list of {what} objects")
        if len(set(items)) != len(items):
            raise ValueError(f"duplicate {what}s not allowed")
        for item in items:
            if not isinstance(item, cls):
                raise ValueError(f"Expected list of {cls!r}")

    # --- the AdminClient ACL API ---------------------------------------------------------

    def create_acls(
        self, acls: list[AclBinding], request_timeout: float | None = None, **_: Any
    ) -> dict[AclBinding, concurrent.futures.Future[Any]]:
        self._check_list(acls, AclBinding, "AclBinding")
        self.requests.append(("create_acls", request_timeout))
        result: dict[AclBinding, concurrent.futures.Future[Any]] = {}
        with self._lock:
            for binding in acls:
                future = self._future()
                error = _creation_error(binding)
                if error is None and not (self.unavailable or self.hang):
                    self._bindings.add(_key(binding))
                self._settle(future, None, error)
                result[binding] = future
        return result

    def describe_acls(
        self, acl_binding_filter: AclBindingFilter, request_timeout: float | None = None, **_: Any
    ) -> concurrent.futures.Future[Any]:
        if not isinstance(acl_binding_filter, AclBindingFilter):
            raise TypeError("Expected an AclBindingFilter")
        self.requests.append(("describe_acls", request_timeout))
        future = self._future()
        error = _filter_error(acl_binding_filter)
        with self._lock:
            found = [
                _binding(k) for k in self._bindings if matches(acl_binding_filter, _binding(k))
            ]
        self._settle(future, None if error else found, error)
        return future

    def delete_acls(
        self,
        acl_binding_filters: list[AclBindingFilter],
        request_timeout: float | None = None,
        **_: Any,
    ) -> dict[AclBindingFilter, concurrent.futures.Future[Any]]:
        self._check_list(acl_binding_filters, AclBindingFilter, "AclBindingFilter")
        self.requests.append(("delete_acls", request_timeout))
        result: dict[AclBindingFilter, concurrent.futures.Future[Any]] = {}
        with self._lock:
            snapshot = [_binding(k) for k in self._bindings]
            doomed: set[_Key] = set()
            for acl_filter in acl_binding_filters:
                future = self._future()
                error = _filter_error(acl_filter)
                matched = [] if error else [b for b in snapshot if matches(acl_filter, b)]
                if not (self.unavailable or self.hang):
                    doomed.update(_key(b) for b in matched)
                self._settle(future, matched, error)
                result[acl_filter] = future
            self._bindings -= doomed
        return result
