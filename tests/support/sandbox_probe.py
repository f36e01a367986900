"""What a program inside the sandbox can see and do, as Python source that jobs and notebook
kernels run: the helpers are defined once here and each test adds the facts it reports."""

from __future__ import annotations

HELPERS = """
import getpass, json, os, socket, sys
d = os.environ["HOPS_DATASETS_DIR"]

def can_write(dataset):
    try:
        with open(f"{d}/{dataset}/probe.txt", "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

def network():
    try:
        socket.create_connection(("1.1.1.1", 80), timeout=2).close()
        return True
    except OSError:
        return False
"""
