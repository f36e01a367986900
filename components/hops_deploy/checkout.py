"""Where the deployment's files are: `site.yml`, `roles/`, `inventories/`, `stacks/`.

Those are files of the repository, not of the installed `hops_deploy` package, so they are
looked up the way the tools are run: from an editable install the package sits inside the
checkout; from a normal install (`pip install '.[deploy]'`) the package is in
site-packages and the checkout is the directory the command runs in (or one above it).
`HOPS_CHECKOUT` names it outright.
"""

from __future__ import annotations

import os
from pathlib import Path


class CheckoutNotFound(LookupError):
    pass


def is_checkout(path: Path) -> bool:
    return (path / "site.yml").is_file() and (path / "roles").is_dir()


def find_checkout(start: Path | None = None) -> Path:
    named = os.environ.get("HOPS_CHECKOUT")
    if named:
        if not is_checkout(Path(named)):
            raise CheckoutNotFound(f"HOPS_CHECKOUT={named} has no site.yml and roles/")
        return Path(named).resolve()
    editable = Path(__file__).resolve().parents[2]
    here = (start or Path.cwd()).resolve()
    for candidate in (editable, here, *here.parents):
        if is_checkout(candidate):
            return candidate
    raise CheckoutNotFound(
        "cannot find the deployment's files (site.yml, roles/): run this from the "
        "repository's root, or set HOPS_CHECKOUT to it"
    )


def roles_dir() -> Path:
    return find_checkout() / "roles"
