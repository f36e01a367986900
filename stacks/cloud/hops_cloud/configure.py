"""Configures the created hosts with the repository's playbook, then reads back the platform
CA chain that clients of the API need.

Both steps are `pulumi_command.local.Command`s run on the operator's machine from the
repository root, so they use the same `site.yml`, roles and ansible.cfg as a bare-metal
deployment. Secrets (the SSH private key, the DB and keystore passwords) reach them only as
secret environment variables, which Pulumi encrypts in the state; the scripts write them to
a private temporary directory (umask 077) that is deleted on exit, load the key into a
private ssh-agent (so that ProxyJump's hop through the bastion authenticates too) and pass
the passwords to Ansible as an extra-vars file, never on a command line.

The playbook runs again when the inventory changes (its hash is a trigger), when the
checkout's code does (its version is the other: the playbook builds and ships the control
service from the checkout) or when any input changes (e.g. a password). Host keys are
trusted on first use within one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import local

API_HOST_ALIAS = "hops-api"

SESSION = """set -euo pipefail
work=$(mktemp -d)
cleanup() { ssh-agent -k >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
umask 077
printf '%s\\n' "$HOPS_SSH_PRIVATE_KEY" > "$work/id"
eval "$(ssh-agent -s)" >/dev/null
ssh-add -q "$work/id"
printf '%s\\n' "${HOPS_SSH_CONFIG:-}" > "$work/ssh_config"
cat >> "$work/ssh_config" <<EOF
Host *
  StrictHostKeyChecking accept-new
  UserKnownHostsFile $work/known_hosts
  ServerAliveInterval 30
  ConnectTimeout 30
EOF
"""
"""Shell prelude: private work directory, ssh-agent with the stack's key, ssh_config."""

PLAYBOOK = (
    SESSION
    + """printf '%s\\n' "$HOPS_INVENTORY" > "$work/hosts.yml"
printf '%s\\n' "$HOPS_PLAYBOOK_VARIABLES" > "$work/secrets.json"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
export ANSIBLE_SSH_ARGS="-F $work/ssh_config -o ControlMaster=auto -o ControlPersist=60s"
ansible all -i "$work/hosts.yml" -m ansible.builtin.wait_for_connection -a timeout=900
ansible all -i "$work/hosts.yml" --become -m ansible.builtin.shell \\
  -a 'cloud-init status --wait >/dev/null; [ $? -ne 1 ]'
ansible-playbook -i "$work/hosts.yml" -e "@$work/secrets.json" site.yml
"""
)
"""Waits until every host answers and has finished its first boot (the data volume is
mounted), then runs the whole playbook."""


def read_file_script(path: str) -> str:
    """Prints `path` from the API host over the same route Ansible used."""
    return SESSION + f'ssh -F "$work/ssh_config" {API_HOST_ALIAS} cat {path}\n'


@dataclass
class HostConfigurationArgs:
    repo_root: str
    inventory: pulumi.Input[str]
    inventory_hash: pulumi.Input[str]
    code_version: str
    """The control service's version in this checkout (hops_platform.sources): the playbook
    ships the code it runs from, so a code change re-runs it."""
    api_ssh_config: pulumi.Input[str]
    """An ssh_config block for the alias API_HOST_ALIAS (hops_cloud.inventory.ssh_config)."""
    ca_chain_path: str
    ssh_private_key: pulumi.Input[str]
    playbook_variables: pulumi.Input[str]
    """JSON of the secret Ansible variables."""
    hosts: Sequence[pulumi.Resource]
    """Everything the hosts need before the playbook: instances, routes, access."""


class HostConfiguration(pulumi.ComponentResource):
    playbook: local.Command
    ca_read: local.Command
    ca_chain: pulumi.Output[str]

    def __init__(
        self, name: str, args: HostConfigurationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:HostConfiguration", name, None, opts)
        ssh_key = pulumi.Output.secret(args.ssh_private_key)
        self.playbook = local.Command(
            f"{name}-playbook",
            create=PLAYBOOK,
            interpreter=["/bin/bash", "-c"],
            dir=args.repo_root,
            environment={
                "HOPS_INVENTORY": args.inventory,
                "HOPS_SSH_PRIVATE_KEY": ssh_key,
                "HOPS_PLAYBOOK_VARIABLES": pulumi.Output.secret(args.playbook_variables),
            },
            triggers=[args.inventory_hash, args.code_version],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.hosts),
                additional_secret_outputs=["environment"],
                # The checkout's absolute path differs between operators' machines; moving
                # it must not re-run the playbook.
                ignore_changes=["dir"],
            ),
        )
        self.ca_read = local.Command(
            f"{name}-ca-chain",
            create=read_file_script(args.ca_chain_path),
            interpreter=["/bin/bash", "-c"],
            environment={
                "HOPS_SSH_CONFIG": args.api_ssh_config,
                "HOPS_SSH_PRIVATE_KEY": ssh_key,
            },
            triggers=[args.inventory_hash],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.playbook],
                additional_secret_outputs=["environment"],
            ),
        )
        self.ca_chain = self.ca_read.stdout
        self.register_outputs({"ca_chain": self.ca_chain})
