"""The whole program under Pulumi's mocks (preview=False, so every output resolves and
every assertion below runs on real values): the resource graph, its inputs, firewall rules,
disks, tags, the playbook command, secrets, exports, and config errors that stop the
program before the first resource."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter

import pytest
import yaml

from hops_cloud.config import StackConfigError
from hops_cloud.configure import PLAYBOOK, read_file_script
from hops_cloud.inventory import inventory_hash
from hops_cloud.platform import load_platform
from hops_platform.sources import source_version
from tests.stacks.cloud.conftest import (
    BASTION_IP,
    FAKE_CA_CHAIN,
    REPO,
    StackRun,
    run_stack,
    run_stack_expecting_error,
)

FACTS = load_platform()
INSTANCE = "aws:ec2/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
COMMAND = "command:local:Command"
UNTAGGABLE = {
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment",
}


def sg_id(name: str) -> str:
    """The id the mocks give the security group `name`."""
    return f"sg-{hashlib.sha1(name.encode()).hexdigest()[:17]}"


CLUSTER, API, BASTION = (
    sg_id("hops-firewall-cluster"),
    sg_id("hops-firewall-api"),
    sg_id("hops-firewall-bastion"),
)


def instances(run: StackRun, role: str) -> list:
    """The role's instances in host order (the mocks record them as they register)."""
    found = [r for r in run.of_type(INSTANCE) if r.tags["hops:role"] == role]
    return sorted(found, key=lambda r: r.name)


def test_resource_counts_of_the_default_stack(default_run):
    counts = Counter(r.type for r in default_run.resources)
    assert counts[INSTANCE] == 3
    assert counts["aws:ec2/vpc:Vpc"] == 1
    assert counts["aws:ec2/subnet:Subnet"] == 4
    assert counts["aws:ec2/internetGateway:InternetGateway"] == 1
    assert counts["aws:ec2/natGateway:NatGateway"] == 1
    assert counts["aws:ec2/routeTable:RouteTable"] == 2
    assert counts["aws:ec2/routeTableAssociation:RouteTableAssociation"] == 4
    assert counts[SG] == 2  # cluster and load balancer; no bastion with SSM
    assert counts[INGRESS] == len(FACTS.cluster_ports) + 1 + 1
    assert counts[EGRESS] == 2
    assert counts["aws:iam/instanceProfile:InstanceProfile"] == 1
    assert counts["aws:lb/loadBalancer:LoadBalancer"] == 1
    assert counts["aws:lb/targetGroupAttachment:TargetGroupAttachment"] == 1
    assert counts[COMMAND] == 2
    assert counts["aws:ebs/volume:Volume"] == 0  # data volumes are block devices of instances
    components = {t for t in counts if t.startswith("hops:cloud:")}
    assert components == {
        "hops:cloud:Network",
        "hops:cloud:Firewall",
        "hops:cloud:SsmAccess",
        "hops:cloud:NodeGroup",
        "hops:cloud:ApiEndpoint",
        "hops:cloud:HostConfiguration",
    }


def test_every_resource_belongs_to_a_component(default_run):
    component_urns = {r.urn for r in default_run.resources if r.type.startswith("hops:cloud:")}
    for resource in default_run.resources:
        if not resource.type.startswith("hops:cloud:"):
            assert resource.parent in component_urns, resource.name


def test_node_groups_follow_the_configuration(gpu_bastion_run):
    heads = instances(gpu_bastion_run, "head")
    workers = instances(gpu_bastion_run, "worker")
    gpus = instances(gpu_bastion_run, "gpu-worker")
    assert (len(heads), len(workers), len(gpus)) == (3, 2, 2)
    assert {r.inputs["instanceType"] for r in heads + workers} == {"m6i.2xlarge"}
    assert {r.inputs["instanceType"] for r in gpus} == {"p4d.24xlarge"}
    assert gpus[0].tags["hops:groups"] == "datanodes,nodemanagers,kubernetes_workers"
    assert heads[0].tags["hops:groups"] == (
        "metadata_db,zookeeper,hive,spark,kubernetes_control,hopsworks_api"
    )
    assert heads[1].tags["hops:groups"] == "namenodes,zookeeper"
    assert workers[0].tags["hops:groups"] == "datanodes,nodemanagers,kafka,spark"


def test_gpu_workers_carry_the_kubernetes_taint(gpu_bastion_run):
    for gpu in instances(gpu_bastion_run, "gpu-worker"):
        assert gpu.tags["hops:kubernetes-taint"] == "nvidia.com/gpu=present:NoSchedule"
    for other in instances(gpu_bastion_run, "worker") + instances(gpu_bastion_run, "head"):
        assert "hops:kubernetes-taint" not in other.tags


def test_nodes_are_private_hardened_and_spread_over_the_private_subnets(gpu_bastion_run):
    private = {f"hops-private-{i}-id" for i in range(2)}
    subnets = [r.inputs["subnetId"] for r in instances(gpu_bastion_run, "head")]
    assert subnets == ["hops-private-0-id", "hops-private-1-id", "hops-private-0-id"]
    for node in gpu_bastion_run.of_type(INSTANCE):
        if node.tags["hops:role"] == "bastion":
            continue
        assert node.inputs["subnetId"] in private
        assert not node.inputs.get("associatePublicIpAddress")
        assert node.inputs["vpcSecurityGroupIds"] == [CLUSTER]
        assert node.inputs["metadataOptions"]["httpTokens"] == "required"
        assert node.inputs["ami"] == "ami-0123456789abcdef0"


def test_every_disk_is_encrypted_and_datanodes_get_a_data_volume(gpu_bastion_run):
    for node in gpu_bastion_run.of_type(INSTANCE):
        root = node.inputs["rootBlockDevice"]
        assert root["encrypted"] is True
        datanode = "datanodes" in node.tags.get("hops:groups", "").split(",")
        devices = node.inputs.get("ebsBlockDevices", [])
        if datanode:
            (data,) = devices
            assert data["encrypted"] is True
            assert data["volumeSize"] == 250
            assert data["deviceName"] == "/dev/sdf"
            assert FACTS.datanode_data_dir in node.inputs["userData"]
        else:
            assert devices == []
            assert "userData" not in node.inputs
    assert sum(1 for n in gpu_bastion_run.of_type(INSTANCE) if n.inputs.get("ebsBlockDevices")) == 4


def test_the_data_volume_script_is_valid_bash(default_run):
    (worker, *_) = instances(default_run, "worker")
    result = subprocess.run(
        ["bash", "-n"], input=worker.inputs["userData"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def ingress_rules(run: StackRun) -> list:
    return run.of_type(INGRESS)


def test_cluster_members_accept_exactly_the_platform_ports_from_each_other(default_run):
    rules = [r for r in ingress_rules(default_run) if r.inputs["securityGroupId"] == CLUSTER]
    from_cluster = {
        (r.inputs["ipProtocol"], r.inputs["fromPort"])
        for r in rules
        if r.inputs.get("referencedSecurityGroupId") == CLUSTER
    }
    assert from_cluster == {(p.protocol, p.port) for p in FACTS.cluster_ports}
    spans = {r.inputs["fromPort"]: r.inputs["toPort"] for r in rules}
    # Spark's drivers and block managers take the first free port of a range: all of it.
    assert spans[7079] == 7087 and spans[7089] == 7097 and spans[7078] == 7078
    for group, variables in FACTS.group_ports.items():  # the preflight's list, all of it
        for variable, port in variables.items():
            assert ("tcp", port) in from_cluster, (group, variable)
    others = [r for r in rules if r.inputs.get("referencedSecurityGroupId") != CLUSTER]
    assert [(r.inputs["fromPort"], r.inputs["referencedSecurityGroupId"]) for r in others] == [
        (FACTS.api_port, API)
    ]
    ranges = {p.port: p.to_port for p in FACTS.cluster_ports}
    for rule in rules:
        assert rule.inputs["toPort"] == ranges.get(rule.inputs["fromPort"], FACTS.api_port)
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_only_the_api_port_is_open_to_outside(gpu_bastion_run):
    with_cidr = [
        r
        for r in ingress_rules(gpu_bastion_run)
        if "cidrIpv4" in r.inputs or "cidrIpv6" in r.inputs
    ]
    api = [r for r in with_cidr if r.inputs["securityGroupId"] == API]
    assert {(r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6")) for r in api} == {
        "198.51.100.0/24",
        "2001:db8::/32",
    }
    assert {(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in api} == {
        ("tcp", FACTS.api_port, FACTS.api_port)
    }
    bastion = [r for r in with_cidr if r.inputs["securityGroupId"] == BASTION]
    assert [(r.inputs["cidrIpv4"], r.inputs["fromPort"]) for r in bastion] == [
        ("203.0.113.0/24", 22)
    ]
    assert len(with_cidr) == len(api) + len(bastion)


def test_ssh_reaches_nodes_only_from_the_bastion(gpu_bastion_run, default_run):
    ssh = [r for r in ingress_rules(gpu_bastion_run) if r.inputs["fromPort"] == 22]
    to_nodes = [r for r in ssh if r.inputs["securityGroupId"] == CLUSTER]
    assert [r.inputs["referencedSecurityGroupId"] for r in to_nodes] == [BASTION]
    (bastion,) = instances(gpu_bastion_run, "bastion")
    assert bastion.inputs["associatePublicIpAddress"] is True
    assert bastion.inputs["subnetId"] == "hops-public-0-id"
    assert bastion.inputs["vpcSecurityGroupIds"] == [BASTION]
    assert bastion.inputs["rootBlockDevice"]["encrypted"] is True
    # SSM: no SSH rule anywhere, and nodes get the SSM instance profile.
    assert not [r for r in ingress_rules(default_run) if r.inputs["fromPort"] == 22]
    (policy,) = default_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert policy.inputs["policyArn"].endswith("/AmazonSSMManagedInstanceCore")
    for node in default_run.of_type(INSTANCE):
        assert node.inputs["iamInstanceProfile"] == "hops-access-node-profile-profile"
    assert not [r for r in gpu_bastion_run.of_type(INSTANCE) if "iamInstanceProfile" in r.inputs]


def test_the_api_load_balancer_forwards_to_the_api_host(default_run):
    (lb,) = default_run.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["loadBalancerType"] == "network"
    assert lb.inputs["internal"] is False
    assert lb.inputs["subnets"] == ["hops-public-0-id", "hops-public-1-id"]
    assert lb.inputs["securityGroups"] == [API]
    (listener,) = default_run.of_type("aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (FACTS.api_port, "TCP")
    (attachment,) = default_run.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    (head,) = instances(default_run, "head")
    assert attachment.name == "hops-api-head1"
    assert attachment.inputs["targetId"].startswith("i-")
    assert "hopsworks_api" in head.tags["hops:groups"]


def test_everything_taggable_is_tagged(gpu_bastion_run):
    checked = 0
    for resource in gpu_bastion_run.resources:
        if not resource.type.startswith("aws:") or resource.type in UNTAGGABLE:
            continue
        tags = resource.tags
        assert tags["hops:stack"] == "hops-cloud/dev", resource.name
        assert tags["hops:role"], resource.name
        assert tags["team"] == "data-platform" and tags["cost-center"] == "4711", resource.name
        checked += 1
    assert checked > 40
    for node in gpu_bastion_run.of_type(INSTANCE):
        assert node.inputs["rootBlockDevice"]["tags"]["hops:stack"] == "hops-cloud/dev"


def test_the_playbook_runs_with_the_inventory_after_the_instances(default_run):
    playbook = default_run.named("hops-configure-playbook")
    assert playbook.inputs["create"] == PLAYBOOK
    assert 'ansible-playbook -i "$work/hosts.yml" -e "@$work/secrets.json" site.yml' in PLAYBOOK
    assert playbook.inputs["dir"] == str(REPO)
    inventory = default_run.exports["inventory"]
    assert playbook.inputs["environment"]["HOPS_INVENTORY"] == inventory
    # a code change re-runs the playbook, which ships the code (hops_deploy.ship)
    assert playbook.inputs["triggers"] == [inventory_hash(inventory), source_version(REPO)]
    instance_urns = {r.urn for r in default_run.of_type(INSTANCE)}
    assert instance_urns and instance_urns <= set(playbook.dependencies)
    nat = default_run.of_type("aws:ec2/natGateway:NatGateway")[0]
    assert nat.urn in playbook.dependencies
    ca = default_run.named("hops-configure-ca-chain")
    assert playbook.urn in ca.dependencies
    assert ca.inputs["create"] == read_file_script("/etc/hops/pki/ca-chain.pem")
    assert "Host hops-api\n  HostName 10.0.16.11\n" in ca.inputs["environment"]["HOPS_SSH_CONFIG"]


def test_the_generated_inventory_matches_the_created_instances(default_run):
    inventory = yaml.safe_load(default_run.exports["inventory"])
    hosts = inventory["all"]["hosts"]
    assert {name: h["ansible_host"] for name, h in hosts.items()} == default_run.exports["nodes"]
    instance_id = f"i-{hashlib.sha1(b'hops-head-head1').hexdigest()[:17]}"
    assert f"--target {instance_id} " in hosts["head1"]["ansible_ssh_common_args"]
    assert hosts["head1"]["ca_extra_dns_names"] == ["hops-api-nlb.elb.eu-north-1.amazonaws.com"]
    assert (
        "hops-api-nlb.elb.eu-north-1.amazonaws.com" in hosts["head1"]["hopsworks_api_tls_hostnames"]
    )
    assert inventory["all"]["children"]["hopsworks_api"]["hosts"] == {"head1": None}


def test_bastion_inventory_jumps_through_the_bastion(gpu_bastion_run):
    inventory = yaml.safe_load(gpu_bastion_run.exports["inventory"])
    assert inventory["all"]["vars"]["ansible_ssh_common_args"] == f"-o ProxyJump=admin@{BASTION_IP}"
    assert inventory["all"]["hosts"]["gpu1"]["gpu"] is True
    assert inventory["all"]["hosts"]["gpu2"]["nvidia_driver_version"] == "550.127.05"
    assert set(inventory["all"]["children"]["kubernetes_workers"]["hosts"]) == {"gpu1", "gpu2"}
    assert gpu_bastion_run.exports["bastionAddress"] == BASTION_IP


def test_the_scripts_are_valid_bash():
    for script in (PLAYBOOK, read_file_script("/etc/hops/pki/ca-chain.pem")):
        result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_secrets_are_marked_secret_and_appear_nowhere_in_clear(default_run):
    playbook = default_run.named("hops-configure-playbook")
    assert playbook.secret_inputs == {
        "environment.HOPS_SSH_PRIVATE_KEY",
        "environment.HOPS_PLAYBOOK_VARIABLES",
    }
    assert playbook.additional_secret_outputs == ["environment"]
    variables = json.loads(playbook.inputs["environment"]["HOPS_PLAYBOOK_VARIABLES"])
    assert variables["hops_db_service_password"] == "service-password-1"
    assert set(variables) == {
        "hops_db_service_password",
        "hops_db_hive_password",
        "hdfs_keystore_password",
        "yarn_keystore_password",
        "hops_keystore_password",
    }
    ca = default_run.named("hops-configure-ca-chain")
    assert ca.secret_inputs == {"environment.HOPS_SSH_PRIVATE_KEY"}
    assert ca.additional_secret_outputs == ["environment"]

    secrets = ("service-password-1", "hive-password-1", "hdfs-keystore-1", "OPENSSH PRIVATE")
    for resource in default_run.resources:
        clear = dict(resource.inputs)
        if resource.type == COMMAND:
            clear["environment"] = {
                k: v
                for k, v in clear["environment"].items()
                if f"environment.{k}" not in resource.secret_inputs
            }
        text = json.dumps(clear)
        for secret in secrets:
            assert secret not in text, resource.name
    assert not any(s in json.dumps(default_run.exports) for s in secrets)


def test_exports(default_run, gpu_bastion_run):
    assert default_run.exports["apiUrl"] == "https://hops-api-nlb.elb.eu-north-1.amazonaws.com:8181"
    assert default_run.exports["caChain"] == FAKE_CA_CHAIN
    assert set(default_run.exports) == {"apiUrl", "caChain", "inventory", "nodes"}
    assert set(gpu_bastion_run.exports) == {
        "apiUrl",
        "caChain",
        "inventory",
        "nodes",
        "bastionAddress",
    }
    assert list(gpu_bastion_run.exports["nodes"]) == [
        "head1",
        "head2",
        "head3",
        "worker1",
        "worker2",
        "gpu1",
        "gpu2",
    ]


def test_without_the_playbook_only_machines_and_inventory_are_made():
    run = run_stack(runPlaybook=False)
    assert not run.of_type(COMMAND)
    assert set(run.exports) == {"apiUrl", "inventory", "nodes"}


def test_a_given_ami_and_zones_skip_the_lookups():
    run = run_stack(amiId="ami-0fedcba9876543210", availabilityZones=["eu-north-1b"])
    assert {r.inputs["ami"] for r in run.of_type(INSTANCE)} == {"ami-0fedcba9876543210"}
    assert {r.inputs["availabilityZone"] for r in run.of_type("aws:ec2/subnet:Subnet")} == {
        "eu-north-1b"
    }
    assert "aws:ec2/getAmi:getAmi" not in run.calls
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" not in run.calls


def test_subnets_go_round_robin_over_the_region_zones(default_run):
    zones = [r.inputs["availabilityZone"] for r in default_run.of_type("aws:ec2/subnet:Subnet")]
    assert zones == ["eu-north-1a", "eu-north-1b", "eu-north-1a", "eu-north-1b"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"gpuWorkerInstanceType": "m5.large"}, "hops-cloud:gpuWorkerInstanceType: 'm5.large'"),
        ({"headCount": 0}, "hops-cloud:headCount: must be at least 1, got 0"),
        (
            {"publicSubnetCidrs": ["10.0.1.0/24"], "privateSubnetCidrs": ["10.0.1.0/24"]},
            "hops-cloud:privateSubnetCidrs[0]: 10.0.1.0/24 overlaps hops-cloud:publicSubnetCidrs[0]",
        ),
        ({"cloud": "gcp"}, "hops-cloud:cloud: 'gcp' is not a supported cloud"),
    ],
)
def test_bad_config_stops_the_program_before_any_resource(overrides, expected):
    error, mocks = run_stack_expecting_error(**overrides)
    assert isinstance(error, StackConfigError)
    assert expected in str(error)
    assert mocks.resources == []
    assert mocks.calls == []
