"""The stack configuration (hops_cloud.config): types, defaults and every refusal, with the
message naming the key. `parse_config` takes the raw strings Pulumi hands a program."""

from __future__ import annotations

import ipaddress

import pytest

from hops_cloud.config import (
    GPU_INSTANCE_FAMILIES,
    KEYS,
    StackConfigError,
    parse_config,
    read_config,
)
from hops_stack.pulumi_config import StackFile
from tests.stacks.cloud.conftest import BASE_CONFIG, raw_value


def parse(**overrides):
    raw = {k: raw_value(v) for k, v in {**BASE_CONFIG, **overrides}.items() if v is not None}
    return parse_config(raw)


def error_of(**overrides) -> str:
    with pytest.raises(StackConfigError) as caught:
        parse(**overrides)
    return str(caught.value)


def test_the_defaults_make_a_small_cluster():
    config = parse()
    assert config.cloud == "aws"
    assert config.access == "ssm"
    assert (config.heads.count, config.workers.count, config.gpu_workers.count) == (1, 2, 0)
    assert config.zookeeper_count == 3
    assert config.vpc_cidr == ipaddress.ip_network("10.0.0.0/16")
    assert [str(n) for n in config.api_allowed_cidrs] == ["0.0.0.0/0"]
    assert config.run_playbook is True
    assert config.secrets.playbook_variables == {
        "hops_db_service_password": "service-password-1",
        "hops_db_hive_password": "hive-password-1",
        "hdfs_keystore_password": "hdfs-keystore-1",
        "yarn_keystore_password": "yarn-keystore-1",
        "hops_keystore_password": "jvm-keystore-1",
    }
    assert config.secrets.ssh_private_key.endswith("-----\n")


def test_values_are_typed_from_strings():
    config = parse(
        headCount="3",
        workerCount="4",
        gpuWorkerCount="2",
        gpuWorkerInstanceType="p5.48xlarge",
        zookeeperCount="5",
        runPlaybook="false",
        tags=["team=data", "env=dev"],
        availabilityZones=["eu-north-1a", "eu-north-1b"],
    )
    assert (config.heads.count, config.workers.count, config.gpu_workers.count) == (3, 4, 2)
    assert config.gpu_workers.instance_type == "p5.48xlarge"
    assert config.run_playbook is False
    assert config.tags == {"team": "data", "env": "dev"}
    assert config.availability_zones == ("eu-north-1a", "eu-north-1b")


def test_secrets_never_show_in_the_config_repr():
    text = repr(parse())
    for secret in ("service-password-1", "hive-password-1", "OPENSSH PRIVATE KEY"):
        assert secret not in text


@pytest.mark.parametrize(
    "instance_type",
    ["g4dn.xlarge", "g5.2xlarge", "g6.xlarge", "g6e.12xlarge", "p3.2xlarge", "p4d.24xlarge"],
)
def test_gpu_families_are_accepted(instance_type):
    assert parse(gpuWorkerInstanceType=instance_type).gpu_workers.instance_type == instance_type


def test_a_non_gpu_family_for_gpu_workers_names_the_key():
    message = error_of(gpuWorkerInstanceType="m5.large")
    assert (
        "hops-cloud:gpuWorkerInstanceType: 'm5.large' is not a GPU instance family "
        f"({', '.join(GPU_INSTANCE_FAMILIES)})"
    ) in message


@pytest.mark.parametrize(
    ("instance_type", "why"),
    [
        ("g4ad.xlarge", "is not a GPU instance family"),  # AMD GPUs
        ("g5g.xlarge", "is an Arm (Graviton) type"),
        ("gpu", "is not an EC2 instance type"),
    ],
)
def test_other_gpu_types_are_refused(instance_type, why):
    assert f"hops-cloud:gpuWorkerInstanceType: '{instance_type}' {why}" in error_of(
        gpuWorkerInstanceType=instance_type
    )


def test_graviton_workers_are_refused():
    assert "hops-cloud:workerInstanceType: 'm7g.2xlarge' is an Arm" in error_of(
        workerInstanceType="m7g.2xlarge"
    )


def test_zero_heads_is_refused():
    assert "hops-cloud:headCount: must be at least 1, got 0" in error_of(headCount=0)


def test_counts_must_be_integers():
    assert "hops-cloud:workerCount: must be an integer, got 'two'" in error_of(workerCount="two")
    assert "hops-cloud:gpuWorkerCount: must be at least 0, got -1" in error_of(gpuWorkerCount=-1)


def test_overlapping_subnets_are_refused():
    message = error_of(
        publicSubnetCidrs=["10.0.1.0/24"], privateSubnetCidrs=["10.0.16.0/20", "10.0.1.0/24"]
    )
    assert (
        "hops-cloud:privateSubnetCidrs[1]: 10.0.1.0/24 overlaps "
        "hops-cloud:publicSubnetCidrs[0] 10.0.1.0/24"
    ) in message


def test_overlaps_within_one_list_are_refused():
    message = error_of(privateSubnetCidrs=["10.0.16.0/20", "10.0.20.0/24"])
    assert "hops-cloud:privateSubnetCidrs[1]: 10.0.20.0/24 overlaps" in message


def test_subnets_outside_the_vpc_are_refused():
    message = error_of(publicSubnetCidrs=["192.168.0.0/24"])
    assert (
        "hops-cloud:publicSubnetCidrs[0]: 192.168.0.0/24 is not inside hops-cloud:vpcCidr "
        "10.0.0.0/16"
    ) in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"vpcCidr": "10.0.0.0/8"}, "hops-cloud:vpcCidr: 10.0.0.0/8 must be between /16 and /28"),
        ({"vpcCidr": "10.0.0.1/16"}, "hops-cloud:vpcCidr: '10.0.0.1/16' is not an IPv4 network"),
        ({"privateSubnetCidrs": ["fd00::/64"]}, "privateSubnetCidrs[0]: fd00::/64 must be an IPv4"),
        ({"privateSubnetCidrs": []}, "hops-cloud:privateSubnetCidrs: must list at least one"),
        ({"publicSubnetCidrs": "10.0.0.0/24"}, "hops-cloud:publicSubnetCidrs: must be a JSON list"),
        ({"apiAllowedCidrs": ["somewhere"]}, "hops-cloud:apiAllowedCidrs[0]: 'somewhere' is not"),
        ({"apiAllowedCidrs": []}, "hops-cloud:apiAllowedCidrs: must list at least one network"),
        (
            {"availabilityZones": ["north"]},
            "hops-cloud:availabilityZones[0]: 'north' is not a zone",
        ),
    ],
)
def test_network_values_are_checked(overrides, expected):
    assert expected in error_of(**overrides)


def test_an_unknown_cloud_is_refused():
    assert "hops-cloud:cloud: 'gcp' is not a supported cloud (supported: aws)" in error_of(
        cloud="gcp"
    )


def test_an_unknown_access_mode_is_refused():
    assert "hops-cloud:access: 'vpn' is not an access mode (supported: ssm, bastion)" in error_of(
        access="vpn"
    )


def test_bastion_access_needs_networks_and_never_the_world():
    assert (
        "hops-cloud:bastionAllowedCidrs: must list at least one network when hops-cloud:access "
        "is 'bastion'"
    ) in error_of(access="bastion")
    message = error_of(access="bastion", bastionAllowedCidrs=["10.1.0.0/16", "0.0.0.0/0", "::/0"])
    assert "hops-cloud:bastionAllowedCidrs[1]: 0.0.0.0/0 opens SSH to the whole internet" in message
    assert "hops-cloud:bastionAllowedCidrs[2]: ::/0 opens SSH" in message
    assert parse(access="bastion", bastionAllowedCidrs=["203.0.113.0/24"]).access == "bastion"


def test_zookeeper_needs_an_odd_count_that_fits():
    assert "hops-cloud:zookeeperCount: must be odd (a quorum), got 2" in error_of(zookeeperCount=2)
    message = error_of(headCount=1, workerCount=0)
    assert "hops-cloud:zookeeperCount: 3 is more than the 1 head and worker hosts" in message
    assert parse(headCount=1, workerCount=0, zookeeperCount=1).zookeeper_count == 1


def test_required_keys_are_named_with_how_to_set_them():
    message = error_of(sshPublicKey=None, dbHivePassword=None)
    assert "hops-cloud:sshPublicKey: required, not set (pulumi config set sshPublicKey ...)" in (
        message
    )
    assert "hops-cloud:dbHivePassword: required, not set (pulumi config set --secret" in message


def test_short_passwords_are_refused_without_echoing_them():
    message = error_of(yarnKeystorePassword="abc")
    assert "hops-cloud:yarnKeystorePassword: must be at least 8 characters" in message
    assert "abc" not in message.replace("characters", "")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sshPublicKey": "not a key"}, "hops-cloud:sshPublicKey: is not an OpenSSH public key"),
        ({"sshPrivateKey": "secret"}, "hops-cloud:sshPrivateKey: is not a PEM/OpenSSH private"),
        ({"amiId": "debian"}, "hops-cloud:amiId: 'debian' is not an AMI id"),
        ({"sshUser": "Admin User"}, "hops-cloud:sshUser: 'Admin User' is not a Unix user name"),
        ({"rootVolumeSize": 8}, "hops-cloud:rootVolumeSize: must be at least 30, got 8"),
        ({"nvidiaDriverVersion": "latest"}, "hops-cloud:nvidiaDriverVersion: 'latest' is not"),
        ({"runPlaybook": "yes"}, "hops-cloud:runPlaybook: must be true or false, got 'yes'"),
        ({"tags": ["team"]}, "hops-cloud:tags[0]: 'team' must be key=value"),
        ({"tags": ["hops:role=x"]}, "hops-cloud:tags[0]: 'hops:role': the aws: and hops:"),
    ],
)
def test_other_values_are_checked(overrides, expected):
    assert expected in error_of(**overrides)


def test_a_misspelt_key_is_reported_not_ignored():
    assert "hops-cloud:gpuWorkerCout: not a key of this stack (did you mean gpuWorkerCount?)" in (
        error_of(gpuWorkerCout=2)
    )


def test_every_problem_is_reported_at_once():
    message = error_of(headCount=0, cloud="gcp", gpuWorkerInstanceType="m5.large")
    assert message.startswith("3 configuration errors:")


class RecordingConfig:
    """Stands in for pulumi.Config: records which keys the reader asks for."""

    def __init__(self, values):
        self.values = values
        self.asked: list[str] = []

    def get(self, key):
        self.asked.append(key)
        return self.values.get(key)


def test_read_config_asks_pulumi_for_every_key_and_reports_unknown_ones():
    fake = RecordingConfig({k: raw_value(v) for k, v in BASE_CONFIG.items()})
    config = read_config(fake, stack_file=StackFile())
    assert set(fake.asked) == set(KEYS)
    assert config.heads.count == 1

    typo = StackFile(keys=frozenset({*BASE_CONFIG, "headcount"}))
    with pytest.raises(StackConfigError, match=r"hops-cloud:headcount: not a key of this stack"):
        read_config(fake, stack_file=typo)


def test_required_keys_are_exactly_the_ones_every_stack_sets():
    required = {k for k, spec in KEYS.items() if spec.required}
    assert required == set(BASE_CONFIG)
