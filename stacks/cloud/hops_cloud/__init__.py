"""The Pulumi program that stands the platform up on a cloud: network, head / worker / GPU
node groups with their disks, access for the operator, then the same Ansible playbook the
bare-metal deployment runs (docs/stacks-cloud.md)."""
