"""The policy pack: `pulumi preview --policy-pack policy` (from stacks/kubernetes).

The policies are in hops_k8s/policies.py, importable without serving them; this file only
serves them (constructing a PolicyPack starts the analyzer's gRPC server).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack

from hops_k8s.policies import ALL_POLICIES

PolicyPack(
    name="hops-kubernetes",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=ALL_POLICIES,
)
