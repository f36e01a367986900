"""`pulumi up` entry point: read the configuration, then create the platform."""

import pulumi

from hops_k8s.config import read_config
from hops_k8s.program import deploy

for key, value in deploy(read_config()).items():
    pulumi.export(key, value)
