"""One module per Ansible role, each a `@deploy` of the same tasks in the same order."""
