"""`hops credentials write DIR`: the member's certificate bundle as the files Java, Spark,
Kafka and Python clients load, plus ready client configurations naming them."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from hops_client.api import Api, quoted

SECRET = 0o600
PUBLIC = 0o644


def _write(path: Path, data: bytes, mode: int) -> None:
    """Created with its final mode (a key is never readable by others, not even briefly),
    replacing what an earlier run wrote."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write(api: Api, project: str, directory: Path) -> list[str]:
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    bundle = api.json(
        "GET",
        f"/projects/{quoted(project)}/credentials/client",
        params={"credentials_dir": str(directory)},
    )
    creds = bundle["credentials"]
    files: dict[str, tuple[bytes, int]] = {
        "certificate.pem": (creds["certificate"].encode(), PUBLIC),
        "private_key.pem": (creds["private_key"].encode(), SECRET),
        "ca_chain.pem": (creds["ca_chain"].encode(), PUBLIC),
        "keystore.p12": (base64.b64decode(creds["keystore"]), SECRET),
        "keystore.password": (creds["keystore_password"].encode(), SECRET),
        "truststore.p12": (base64.b64decode(creds["truststore"]), SECRET),
        "truststore.password": (creds["truststore_password"].encode(), SECRET),
    }
    # the configs hold the keystore passwords
    files |= {name: (text.encode(), SECRET) for name, text in bundle["configs"].items()}
    for name, (data, mode) in files.items():
        _write(directory / name, data, mode)
    return sorted(files)
