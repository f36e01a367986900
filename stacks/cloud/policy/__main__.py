"""The policy pack: `pulumi preview --policy-pack stacks/cloud/policy` (from stacks/cloud).

The policies live in hops_cloud.policies, beside the program they guard; the API port and
the GPU taint they check are read from the roles of this checkout."""

import sys
from pathlib import Path

# The pack runs from this directory; the hops_cloud package is one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack

from hops_cloud.platform import load_platform
from hops_cloud.policies import build_policies

PolicyPack(name="hops-cloud", policies=build_policies(load_platform()))
