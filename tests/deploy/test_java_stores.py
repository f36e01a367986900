"""roles/hops/files/java-stores.sh, run here for real with OpenSSL and the JDK's keytool:
the PKCS12 stores a JVM service (HDFS, YARN) reads, built from PEM files the way the
platform CA writes them, rebuilt only when needed."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.certificates import issue_ca, issue_server

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "hops" / "files" / "java-stores.sh"
KEYTOOL = shutil.which("keytool")
pytestmark = pytest.mark.skipif(
    KEYTOOL is None or shutil.which("openssl") is None, reason="needs keytool and openssl"
)


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    """A root, an intermediate and a host certificate, as roles/ca installs them."""
    root_key, root = issue_ca("root")
    mid_key, mid = issue_ca("intermediate", parent=(root_key, root))
    host_key, host = issue_server(mid_key, mid, "10.0.0.11")
    pem = serialization.Encoding.PEM
    files = {
        "cert": tmp_path / "host.pem",
        "key": tmp_path / "host.key",
        "chain": tmp_path / "ca-chain.pem",
    }
    files["cert"].write_bytes(host.public_bytes(pem))
    files["key"].write_bytes(
        host_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files["chain"].write_bytes(mid.public_bytes(pem) + root.public_bytes(pem))
    return files


def build(
    files: dict[str, Path], out: Path, password: str = "store-pass-1", check: bool = False
) -> str:
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    result = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            *(str(files[part]) for part in ("cert", "key", "chain")),
            str(out / "keystore.p12"),
            "host",
            str(out / "truststore.p12"),
            user,
            group,
            str(KEYTOOL),
        ],
        env={
            **os.environ,
            "HOPS_KEYSTORE_PASSWORD": password,
            "HOPS_STORES_CHECK": "1" if check else "",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def keytool_list(store: Path, password: str = "store-pass-1") -> str:
    return subprocess.run(
        [
            str(KEYTOOL),
            "-list",
            "-keystore",
            str(store),
            "-storetype",
            "PKCS12",
            "-storepass",
            password,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_java_reads_the_host_key_entry_and_every_ca_as_trusted(
    pem_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "stores"
    out.mkdir()
    printed = build(pem_files, out)
    assert printed.split() == [
        "rebuilt",
        str(out / "keystore.p12"),
        "rebuilt",
        str(out / "truststore.p12"),
    ]
    assert "host, " in keytool_list(out / "keystore.p12")
    assert "PrivateKeyEntry" in keytool_list(out / "keystore.p12")
    # no password: any one opens it (Java's clients pass theirs, or an empty one)
    trusted = keytool_list(out / "truststore.p12", password="anything")
    assert trusted.count("trustedCertEntry") == 2  # the intermediate and the root
    assert (out / "keystore.p12").stat().st_mode & 0o777 == 0o600
    assert (out / "truststore.p12").stat().st_mode & 0o777 == 0o644
    assert "store-pass-1" not in printed


def test_a_second_run_rebuilds_nothing_and_a_new_password_rebuilds_the_keystore(
    pem_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "stores"
    out.mkdir()
    assert build(pem_files, out, check=True).split() == [
        "stale",
        str(out / "keystore.p12"),
        "stale",
        str(out / "truststore.p12"),
    ]
    assert not (out / "keystore.p12").exists()  # a check builds nothing
    build(pem_files, out)
    assert build(pem_files, out, check=True) == ""
    assert build(pem_files, out) == ""
    assert build(pem_files, out, password="store-pass-2").split() == [
        "rebuilt",
        str(out / "keystore.p12"),
    ]
    assert "PrivateKeyEntry" in keytool_list(out / "keystore.p12", "store-pass-2")


def test_a_reissued_certificate_rebuilds_the_keystore_only(
    pem_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "stores"
    out.mkdir()
    build(pem_files, out)
    later = (out / "keystore.p12").stat().st_mtime + 5
    os.utime(pem_files["cert"], (later, later))
    assert build(pem_files, out).split() == ["rebuilt", str(out / "keystore.p12")]
