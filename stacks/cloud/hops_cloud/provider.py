"""The seam between the program and a cloud.

The program (hops_cloud.program) decides *what* the platform needs: which hosts with which
groups, which ports are open to whom, how the operator gets in, where the API is published.
A `CloudProvider` decides *how* one cloud builds that. AWS is the one implementation
(hops_cloud.aws); a second cloud implements the same four methods, returns objects with the
same few attributes, and is registered in hops_cloud.program.PROVIDERS and
hops_cloud.config.SUPPORTED_CLOUDS. Everything after the machines exist (inventory,
playbook, CA chain, exports) is shared and cloud-neutral.

Specs are frozen dataclasses of plain values, so a provider can be exercised in tests with
Pulumi's mocks and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import pulumi

from hops_cloud.inventory import Connection
from hops_cloud.layout import PlannedHost, Role
from hops_cloud.platform import PlatformPort


@dataclass(frozen=True)
class NetworkSpec:
    """A private network for the nodes, public subnets for what faces the operator and the
    users, and a firewall: platform ports only between cluster hosts, the API port from
    `api_allowed_cidrs`, SSH only from the bastion (or not at all with SSM)."""

    vpc_cidr: str
    public_subnet_cidrs: tuple[str, ...]
    private_subnet_cidrs: tuple[str, ...]
    availability_zones: tuple[str, ...]
    """Zones for subnet i (i modulo their number); empty lets the provider pick."""
    cluster_ports: tuple[PlatformPort, ...]
    api_port: int
    api_allowed_cidrs: tuple[str, ...]
    access: Literal["ssm", "bastion"]
    bastion_allowed_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class AccessSpec:
    """How the operator's machine reaches the private hosts (see hops_cloud.inventory)."""

    kind: Literal["ssm", "bastion"]
    user: str
    ssh_public_key: str
    bastion_instance_type: str
    image_id: str = ""
    """Empty: the provider's Debian 12 image."""


@dataclass(frozen=True)
class NodeGroupSpec:
    """Identical machines for one role. Datanodes among `hosts` get an encrypted data volume
    of `data_volume_gib` mounted at `data_mount_point`; `taints` are recorded as a tag."""

    role: Role
    hosts: tuple[PlannedHost, ...]
    instance_type: str
    root_volume_gib: int
    data_volume_gib: int
    data_mount_point: str
    image_id: str = ""
    """Empty: the provider's Debian 12 image."""
    taints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    """A created machine, as the cloud-neutral rest of the program sees it."""

    host: PlannedHost
    private_ip: pulumi.Output[str]
    target_id: pulumi.Output[str]
    """The cloud's id of the machine (the SSM target on AWS)."""
    resource: pulumi.Resource
    """What the playbook must wait for."""


@dataclass(frozen=True)
class ApiEndpointSpec:
    port: int
    nodes: tuple[Node, ...]
    """The hopsworks_api hosts the endpoint forwards to."""


class ClusterNetwork(Protocol):
    ready: Sequence[pulumi.Resource]
    """Resources hosts need before they are configured (routes to package mirrors)."""


class ClusterAccess(Protocol):
    connection: pulumi.Output[Connection]
    resources: Sequence[pulumi.Resource]


class NodeGroup(Protocol):
    nodes: Sequence[Node]


class ApiEndpoint(Protocol):
    address: pulumi.Output[str]
    """The DNS name or address users reach the control service at."""


NetworkT = TypeVar("NetworkT", bound=ClusterNetwork)
AccessT = TypeVar("AccessT", bound=ClusterAccess)


class CloudProvider(Protocol[NetworkT, AccessT]):
    """Builds the platform's machines on one cloud. Methods are called in this order, each
    with what the earlier ones returned."""

    name: str

    def create_network(self, name: str, spec: NetworkSpec) -> NetworkT: ...

    def create_access(self, name: str, spec: AccessSpec, network: NetworkT) -> AccessT: ...

    def create_node_group(
        self, name: str, spec: NodeGroupSpec, network: NetworkT, access: AccessT
    ) -> NodeGroup: ...

    def create_api_endpoint(
        self, name: str, spec: ApiEndpointSpec, network: NetworkT
    ) -> ApiEndpoint: ...
