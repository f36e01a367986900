"""Facts about the platform that the control service, the deploy code and the stacks all
state: the Kubernetes quantity grammar, the ClusterRoles a project member gets in a
project's namespace, and the inventory's host groups.

One place for each, so that no test has to keep copies equal. This package imports nothing
but the standard library and nothing of `hopsworks_api` or `hops_deploy`: the Pulumi
programs install it on its own (stacks/common, which their requirements.txt lists),
the service and the deploy code get it with the repository's package.
"""
