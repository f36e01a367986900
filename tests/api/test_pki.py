"""The platform CA and project-user certificates, without TLS on the wire."""

from __future__ import annotations

import base64
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import text
from typer.testing import CliRunner

from hopsworks_api.cli import app as cli
from hopsworks_api.config import Settings
from hopsworks_api.main import create_app
from tests.support.api import Api


def certs(app, where: str = "1=1") -> list:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(
            text(
                f"SELECT serial, common_name, status, project, kind FROM certificates WHERE {where}"
            )
        ).all()


def make_csr(cn: str, *, dns=(), key=None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_ca_files_are_private_and_encrypted(api: Api, settings):
    ca = settings.ca_dir
    assert stat.S_IMODE(ca.stat().st_mode) == 0o700
    for key in [ca / "root" / "key.pem", ca / "intermediates" / "1" / "key.pem", ca / "passphrase"]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for key in [ca / "root" / "key.pem", ca / "intermediates" / "1" / "key.pem"]:
        assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(key.read_bytes(), password=None)
    root = x509.load_pem_x509_certificate((ca / "root" / "cert.pem").read_bytes())
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_configured_passphrase_is_used_and_not_stored(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "d",
        ca_passphrase="correct horse battery staple",
        password_time_cost=1,
        password_memory_kib=64,
    )
    app = create_app(settings)
    key = (settings.ca_dir / "root" / "key.pem").read_bytes()
    serialization.load_pem_private_key(key, password=b"correct horse battery staple")
    assert not (settings.ca_dir / "passphrase").exists()
    app.state.runtime.engine.dispose()


def test_certificates_issued_for_owner_and_members(api: Api, app):
    rows = certs(app, "project = 'demo'")
    assert sorted((r.common_name, r.status, r.kind) for r in rows) == [
        ("demo__owner", "valid", "project_user"),
        ("demo__scientist", "valid", "project_user"),
    ]
    assert len({r.serial for r in certs(app)}) == len(certs(app))


def test_credentials_bundle_is_complete_and_loads_like_a_java_client_would(api: Api, app):
    reply = api.call("scientist", "GET", "/api/projects/demo/credentials")
    assert reply.status_code == 200
    bundle = reply.json()
    cert = x509.load_pem_x509_certificate(bundle["certificate"].encode())
    assert cert.subject.rfc4514_string() == "CN=demo__scientist,O=demo"
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages  # a Spark driver serves its executors
    key = serialization.load_pem_private_key(bundle["private_key"].encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    chain = x509.load_pem_x509_certificates(bundle["ca_chain"].encode())
    cert.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(chain[1])
    p12_key, p12_cert, p12_chain = pkcs12.load_key_and_certificates(
        base64.b64decode(bundle["keystore"]), bundle["keystore_password"].encode()
    )
    assert p12_cert == cert and len(p12_chain) == 2 and p12_key is not None
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(base64.b64decode(bundle["keystore"]), b"wrong")
    trust = pkcs12.load_pkcs12(
        base64.b64decode(bundle["truststore"]), bundle["truststore_password"].encode()
    )
    assert [c.certificate for c in trust.additional_certs] == [chain[1]]
    # a second download gives fresh keystore passwords for the same certificate
    again = api.call("scientist", "GET", "/api/projects/demo/credentials").json()
    assert again["serial"] == bundle["serial"]
    assert again["keystore_password"] != bundle["keystore_password"]


def test_credentials_only_for_own_identity_and_audited(api: Api):
    assert api.call("outsider", "GET", "/api/projects/demo/credentials").status_code == 404
    assert api.call("admin", "GET", "/api/projects/demo/credentials").status_code == 403
    api.call("owner", "GET", "/api/projects/demo/credentials")
    feed = api.call("owner", "GET", "/api/projects/demo/activity").json()["items"]
    reads = [i for i in feed if i["action"] == "credentials.read"]
    assert [(i["actor"], i["outcome"]) for i in reads[:2]] == [
        ("owner@example.org", "ok"),
        ("admin@example.org", "denied"),
    ]


def _crl_serials(api: Api) -> set[int]:
    pem = api.client.get("/api/ca/crl").content
    serials: set[int] = set()
    for block in pem.split(b"-----END X509 CRL-----")[:-1]:
        crl = x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n")
        serials |= {r.serial_number for r in crl}
    return serials


def test_removal_and_deletion_revoke_and_publish_crl(api: Api, app):
    scientist = api.call("scientist", "GET", "/api/projects/demo/credentials").json()["serial"]
    owner = api.call("owner", "GET", "/api/projects/demo/credentials").json()["serial"]
    assert _crl_serials(api) == set()
    api.call("owner", "DELETE", "/api/projects/demo/members/scientist@example.org")
    assert _crl_serials(api) == {int(scientist, 16)}
    api.call("owner", "DELETE", "/api/projects/demo")
    assert _crl_serials(api) == {int(scientist, 16), int(owner, 16)}
    assert {r.status for r in certs(app, "project = 'demo'")} == {"revoked"}


def test_user_deletion_revokes_and_refuses_sole_owners(api: Api, app):
    assert api.call("owner", "DELETE", "/api/users/scientist@example.org").status_code == 403
    sole = api.call("admin", "DELETE", "/api/users/owner@example.org")
    assert sole.status_code == 409 and "only data owner of demo" in sole.json()["error"]["message"]
    assert api.call("admin", "DELETE", "/api/users/scientist@example.org").status_code == 204
    assert {r.status for r in certs(app, "common_name = 'demo__scientist'")} == {"revoked"}
    names = [
        m["email"] for m in api.call("owner", "GET", "/api/projects/demo/members").json()["items"]
    ]
    assert names == ["owner@example.org"]
    assert api.call("admin", "DELETE", "/api/users/ghost@example.org").status_code == 404


def test_chain_endpoint_serves_intermediate_and_root(api: Api):
    chain = x509.load_pem_x509_certificates(api.client.get("/api/ca/chain").content)
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in chain] == [
        "Hopsworks Intermediate CA 1",
        "Hopsworks Platform Root CA",
    ]


def test_rotation_keeps_old_certificates_and_serves_both(api: Api, app):
    old = api.call("owner", "GET", "/api/projects/demo/credentials").json()
    app.state.runtime.ca.rotate_intermediate()
    chain = x509.load_pem_x509_certificates(api.client.get("/api/ca/chain").content)
    assert len(chain) == 3
    api.register("late")
    api.add_member("owner", "demo", "late", "data_scientist")
    new = api.call("late", "GET", "/api/projects/demo/credentials").json()
    new_cert = x509.load_pem_x509_certificate(new["certificate"].encode())
    old_cert = x509.load_pem_x509_certificate(old["certificate"].encode())
    new_cert.verify_directly_issued_by(chain[0])
    old_cert.verify_directly_issued_by(chain[1])
    api.call("owner", "DELETE", "/api/projects/demo/members/late@example.org")
    assert int(new["serial"], 16) in _crl_serials(api)


class TestHostCertificates:
    def sign(self, api: Api, who: str | None, csr: str, headers=None):
        return api.call(who, "POST", "/api/ca/hosts", json={"csr": csr}, headers=headers or {})

    def test_admin_signs_a_host_csr(self, api: Api):
        reply = self.sign(api, "admin", make_csr("nn1.example.org", dns=["namenode.example.org"]))
        assert reply.status_code == 201, reply.text
        cert = x509.load_pem_x509_certificate(reply.json()["certificate"].encode())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(sans.get_values_for_type(x509.DNSName)) == [
            "namenode.example.org",
            "nn1.example.org",
        ]
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.SERVER_AUTH in usages

    def test_agent_keys_are_limited_to_their_host_patterns(self, api: Api):
        created = api.call(
            "admin",
            "POST",
            "/api/auth/api-keys",
            json={"name": "ansible", "agent_hosts": ["worker*.example.org"]},
        )
        assert created.status_code == 201 and created.json()["agent_hosts"] == [
            "worker*.example.org"
        ]
        agent = {"X-API-Key": created.json()["key"]}
        assert self.sign(api, None, make_csr("worker3.example.org"), agent).status_code == 201
        refused = self.sign(api, None, make_csr("nn1.example.org"), agent)
        assert refused.status_code == 403
        assert api.client.get("/api/projects", headers=agent).status_code == 403
        assert api.client.get("/api/ca/chain", headers=agent).status_code == 200
        denied = api.call(
            "owner", "POST", "/api/auth/api-keys", json={"name": "x", "agent_hosts": ["*"]}
        )
        assert denied.status_code == 403

    @pytest.mark.parametrize(
        ("csr", "status"),
        [
            ("not a csr", 400),
            (make_csr("demo__owner"), 403),
            (make_csr("bad_host!"), 400),
            (make_csr("ok.example.org", dns=["demo__owner.example.org"]), 403),
            (make_csr("weak.example.org", key=rsa.generate_private_key(65537, 1024)), 400),
        ],
        ids=["garbage", "project-user-name", "invalid-host", "project-user-san", "weak-key"],
    )
    def test_bad_csrs_are_refused_and_audited(self, api: Api, app, csr, status):
        before = len(certs(app))
        reply = self.sign(api, "admin", csr)
        assert reply.status_code == status, reply.text
        assert reply.json()["error"]["message"]
        assert len(certs(app)) == before  # nothing half-issued
        with app.state.runtime.engine.connect() as conn:
            last = conn.execute(
                text("SELECT action, status_code FROM audit_log ORDER BY id DESC LIMIT 1")
            ).one()
        assert tuple(last) == ("ca.sign_host", status)

    def test_tampered_csr_signature_is_refused(self, api: Api):
        csr = make_csr("honest.example.org")
        der = bytearray(
            x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER)
        )
        der[-5] ^= 0xFF
        tampered = (
            "-----BEGIN CERTIFICATE REQUEST-----\n"
            + base64.encodebytes(bytes(der)).decode()
            + "-----END CERTIFICATE REQUEST-----\n"
        )
        assert self.sign(api, "admin", tampered).status_code == 400

    def test_non_admins_cannot_sign(self, api: Api):
        assert self.sign(api, "owner", make_csr("x.example.org")).status_code == 403


def test_rsa_option_for_old_java_clients(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "rsa",
        ca_key_algorithm="rsa-2048",
        password_time_cost=1,
        password_memory_kib=64,
    )
    app = create_app(settings)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        api = Api(client)
        api.register("owner")
        api.call("owner", "POST", "/api/projects", json={"name": "legacy"})
        bundle = api.call("owner", "GET", "/api/projects/legacy/credentials").json()
    cert = x509.load_pem_x509_certificate(bundle["certificate"].encode())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
    app.state.runtime.engine.dispose()


def test_ca_cli(tmp_path):
    runner = CliRunner()
    env = {"HOPS_DATA_DIR": str(tmp_path)}
    first = runner.invoke(cli, ["ca", "init"], env=env)
    assert first.exit_code == 0 and "intermediate 1" in first.output
    assert runner.invoke(cli, ["ca", "init"], env=env).exit_code == 0  # idempotent
    rotated = runner.invoke(cli, ["ca", "rotate-intermediate"], env=env)
    assert rotated.exit_code == 0 and "intermediate: 2" in rotated.output
    out = tmp_path / "nn1"
    made = runner.invoke(
        cli, ["ca", "host-cert", "nn1.example.org", "--out", str(out), "--ip", "10.0.0.5"], env=env
    )
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((out / "chain.pem").read_bytes())
    cert.verify_directly_issued_by(chain[0])
    assert "Intermediate CA 2" in chain[0].subject.rfc4514_string()
    bad = runner.invoke(cli, ["ca", "host-cert", "a__b", "--out", str(tmp_path / "x")], env=env)
    assert bad.exit_code == 2


def test_a_runs_truststore_has_no_password_and_java_trusts_every_ca_in_it(tmp_path):
    """pki.credentials.java_truststore: what a Spark driver's sandbox shows where the hosts
    keep their own truststore (executors open both with the same, absent, password)."""
    import shutil
    import subprocess

    from hopsworks_api.pki.credentials import java_truststore
    from tests.support.certificates import issue_ca

    root_key, root = issue_ca("root")
    chain = [issue_ca("intermediate", parent=(root_key, root))[1], root]
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    store = tmp_path / "ca_chain.p12"
    store.write_bytes(java_truststore(pem))
    loaded = pkcs12.load_pkcs12(store.read_bytes(), None)
    assert [c.certificate for c in loaded.additional_certs] == chain
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("no keytool here to open it as Java does")
    listed = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storetype", "PKCS12"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.count("trustedCertEntry") == 2
