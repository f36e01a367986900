"""The platform deployed by pyinfra: the Ansible roles' defaults and templates, executed by
pyinfra's operations (docs/stacks-baremetal.md)."""
