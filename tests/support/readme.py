"""The shell commands of a README section, as a newcomer would copy them: the first ```sh
block under a heading, continuation lines joined, comments and blank lines dropped. Tests
run these very lines, so the README cannot drift from what works."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def commands(heading: str, readme: Path = README) -> list[str]:
    text = readme.read_text()
    start = text.find(f"\n{heading}\n")
    if start < 0:
        raise LookupError(f"README has no heading {heading!r}")
    block = re.search(r"```sh\n(?P<body>.*?)```", text[start:], re.S)
    if block is None:
        raise LookupError(f"no ```sh block under {heading!r}")
    lines, pending = [], ""
    for raw in block.group("body").splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        line = re.sub(r"\s+#.*$", "", line).strip()  # a trailing comment
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


# What a clone does not have (or what the tests make on their own).
NOT_IN_A_CLONE = (
    ".git",
    ".venv",
    "build",
    "node_modules",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".vagrant",
    ".ansible",
)


def copy_of_checkout(dest: Path, *also_left_out: str) -> Path:
    """The checkout as a newcomer has it, where the README's commands may write (the lab
    inventory, `inventories/mysite`) without touching this one."""
    shutil.copytree(
        README.parent, dest, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE, *also_left_out)
    )
    (dest / "inventories" / "lab" / "hosts.yml").unlink(missing_ok=True)  # `hops-lab up` writes it
    return dest
