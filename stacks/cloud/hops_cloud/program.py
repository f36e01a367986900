"""The program: what the platform needs from a cloud, in order, and what a user gets back.

1. plan the hosts and their groups (hops_cloud.layout);
2. ask the configured cloud for the network, operator access, one node group per role and
   an endpoint for the API (hops_cloud.provider);
3. write the Ansible inventory for what was created (hops_cloud.inventory) and run the
   repository's playbook with it, then read the platform CA chain back
   (hops_cloud.configure);
4. export `apiUrl`, `caChain`, the inventory and the nodes' addresses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from hops_cloud.aws import AwsProvider
from hops_cloud.config import StackConfig
from hops_cloud.configure import API_HOST_ALIAS, HostConfiguration, HostConfigurationArgs
from hops_cloud.inventory import (
    Connection,
    InventoryHost,
    build_inventory,
    inventory_hash,
    render_inventory,
    ssh_config,
)
from hops_cloud.layout import PlannedHost, Role, plan_hosts
from hops_cloud.platform import REPO_ROOT, PlatformFacts, load_platform
from hops_cloud.provider import (
    AccessSpec,
    ApiEndpointSpec,
    CloudProvider,
    NetworkSpec,
    Node,
    NodeGroupSpec,
)
from hops_platform.sources import source_version

PROVIDERS: dict[str, Callable[[str, Mapping[str, str]], CloudProvider[Any, Any]]] = {
    "aws": AwsProvider,
}
"""Cloud name (the `cloud` key) -> provider factory taking the stack id and user tags."""


@dataclass(frozen=True)
class Deployment:
    """What the program created, for `__main__` and the tests."""

    nodes: tuple[Node, ...]
    inventory: pulumi.Output[str]
    api_url: pulumi.Output[str]
    ca_chain: pulumi.Output[str] | None
    configuration: HostConfiguration | None


def api_host_vars(address: str) -> dict[str, Any]:
    """The API host's certificates must also name the load balancer's DNS name, which is
    what users connect to (the ca role and the control service read these variables)."""
    return {
        "ca_extra_dns_names": [address],
        "hopsworks_api_tls_hostnames": [
            "{{ inventory_hostname }}",
            "{{ inventory_hostname }}.{{ hops_domain }}",
            address,
        ],
    }


def inventory_hosts(
    planned: Sequence[PlannedHost],
    addresses: Sequence[str],
    target_ids: Sequence[str],
    api_address: str,
) -> list[InventoryHost]:
    return [
        InventoryHost(
            name=host.name,
            groups=host.groups,
            address=address,
            gpu=host.gpu,
            target_id=target_id,
            host_vars=api_host_vars(api_address) if "hopsworks_api" in host.groups else {},
        )
        for host, address, target_id in zip(planned, addresses, target_ids, strict=True)
    ]


def deploy(config: StackConfig, facts: PlatformFacts | None = None) -> Deployment:
    """Declare every resource of the stack and export its outputs."""
    facts = facts or load_platform()
    stack = f"{pulumi.get_project()}/{pulumi.get_stack()}"
    provider = PROVIDERS[config.cloud](stack, config.tags)
    planned = plan_hosts(
        config.heads.count,
        config.workers.count,
        config.gpu_workers.count,
        config.zookeeper_count,
    )

    network = provider.create_network(
        "hops",
        NetworkSpec(
            vpc_cidr=str(config.vpc_cidr),
            public_subnet_cidrs=tuple(str(n) for n in config.public_subnet_cidrs),
            private_subnet_cidrs=tuple(str(n) for n in config.private_subnet_cidrs),
            availability_zones=config.availability_zones,
            cluster_ports=facts.cluster_ports,
            api_port=facts.api_port,
            api_allowed_cidrs=tuple(str(n) for n in config.api_allowed_cidrs),
            access=config.access,
            bastion_allowed_cidrs=tuple(str(n) for n in config.bastion_allowed_cidrs),
        ),
    )
    access = provider.create_access(
        "hops-access",
        AccessSpec(
            kind=config.access,
            user=config.ssh_user,
            ssh_public_key=config.ssh_public_key,
            bastion_instance_type=config.bastion_instance_type,
            image_id=config.ami_id,
        ),
        network,
    )

    groups: tuple[tuple[Role, Any], ...] = (
        ("head", config.heads),
        ("worker", config.workers),
        ("gpu-worker", config.gpu_workers),
    )
    nodes: list[Node] = []
    for role, group in groups:
        hosts = tuple(h for h in planned if h.role == role)
        if not hosts:
            continue
        node_group = provider.create_node_group(
            f"hops-{role}",
            NodeGroupSpec(
                role=role,
                hosts=hosts,
                instance_type=group.instance_type,
                root_volume_gib=config.root_volume_gib,
                data_volume_gib=config.data_volume_gib,
                data_mount_point=facts.datanode_data_dir,
                image_id=config.ami_id,
                taints=(facts.gpu_taint,) if role == "gpu-worker" else (),
            ),
            network,
            access,
        )
        nodes.extend(node_group.nodes)

    api_nodes = tuple(n for n in nodes if "hopsworks_api" in n.host.groups)
    endpoint = provider.create_api_endpoint(
        "hops-api", ApiEndpointSpec(port=facts.api_port, nodes=api_nodes), network
    )

    def render(values: dict[str, Any]) -> tuple[str, str]:
        hosts = inventory_hosts(
            [n.host for n in nodes], values["ips"], values["ids"], values["api"]
        )
        connection: Connection = values["connection"]
        text = render_inventory(
            build_inventory(hosts, connection, nvidia_driver_version=config.nvidia_driver_version)
        )
        api_host = next(h for h in hosts if "hopsworks_api" in h.groups)
        return text, ssh_config(API_HOST_ALIAS, api_host, connection)

    rendered = pulumi.Output.all(
        ips=pulumi.Output.all(*[n.private_ip for n in nodes]),
        ids=pulumi.Output.all(*[n.target_id for n in nodes]),
        api=endpoint.address,
        connection=access.connection,
    ).apply(render)
    inventory = rendered.apply(lambda pair: pair[0])
    api_url = pulumi.Output.concat("https://", endpoint.address, ":", str(facts.api_port))

    configuration = None
    ca_chain = None
    if config.run_playbook:
        configuration = HostConfiguration(
            "hops-configure",
            HostConfigurationArgs(
                repo_root=str(REPO_ROOT),
                inventory=inventory,
                inventory_hash=inventory.apply(inventory_hash),
                code_version=source_version(REPO_ROOT),
                api_ssh_config=rendered.apply(lambda pair: pair[1]),
                ca_chain_path=facts.ca_chain_path,
                ssh_private_key=pulumi.Output.secret(config.secrets.ssh_private_key),
                playbook_variables=pulumi.Output.secret(
                    json.dumps(dict(config.secrets.playbook_variables))
                ),
                hosts=[
                    *(n.resource for n in nodes),
                    *network.ready,
                    *access.resources,
                ],
            ),
        )
        ca_chain = configuration.ca_chain

    pulumi.export("apiUrl", api_url)
    pulumi.export("inventory", inventory)
    pulumi.export("nodes", {n.host.name: n.private_ip for n in nodes})
    if ca_chain is not None:
        pulumi.export("caChain", ca_chain)
    if config.access == "bastion":
        pulumi.export("bastionAddress", access.connection.apply(lambda c: c.bastion_address))
    return Deployment(
        nodes=tuple(nodes),
        inventory=inventory,
        api_url=api_url,
        ca_chain=ca_chain,
        configuration=configuration,
    )
