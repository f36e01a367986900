"""What a project is in every system, owned once: the desired state read from the DB, one
converge pass per change and per repair, and the journal that makes changes crash-safe.

Domain services do their DB work, `journal.record` the change in the same transaction,
commit, and `apply.apply` it; the worker finishes whatever a crash interrupted. See
docs/architecture.md."""
