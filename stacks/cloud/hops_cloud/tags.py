"""The tags every resource carries, so that a cloud console, a cost report or a policy can
tell which stack and which role a resource belongs to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

STACK_TAG = "hops:stack"
ROLE_TAG = "hops:role"
GROUPS_TAG = "hops:groups"
TAINT_TAG = "hops:kubernetes-taint"
"""Names the Kubernetes taint of a node (the kubernetes role applies it to GPU nodes); the
policy pack refuses a GPU instance without it."""


def resource_tags(
    stack: str,
    role: str,
    name: str,
    user_tags: Mapping[str, str],
    *,
    groups: Sequence[str] = (),
    taints: Sequence[str] = (),
) -> dict[str, str]:
    """User tags first, then ours (config refuses user tags in the hops: namespace).
    `stack` is `<project>/<stack>`, e.g. hops-cloud/dev."""
    tags = dict(user_tags)
    prefix = stack.replace("/", "-")
    tags.update({"Name": f"{prefix}-{name}", STACK_TAG: stack, ROLE_TAG: role})
    if groups:
        tags[GROUPS_TAG] = ",".join(groups)
    if taints:
        tags[TAINT_TAG] = ",".join(taints)
    return tags
