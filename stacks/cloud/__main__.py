"""`pulumi up` runs this: the configuration is read and validated first (a wrong key stops
the program before any resource is declared), then the stack is declared."""

from hops_cloud.config import read_config
from hops_cloud.program import deploy

deploy(read_config())
