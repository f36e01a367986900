"""Deployment support shared by Ansible, pyinfra and the tests: the inventory topology,
role variables resolved with plain Jinja2, role templates rendered exactly as Ansible's
`template` module renders them, and the systemd-nspawn lab."""
