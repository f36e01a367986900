"""mTLS end to end: a real TLS server (as `hops serve --tls`) and a real TLS client (httpx
with a client certificate). A project certificate acts as its user in its one project."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import _serve_in_thread
from tests.support.api import Api


def write_identity(tmp_path: Path, name: str, cert_pem: str, key_pem: str, chain: str = ""):
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_text(cert_pem + chain)
    key_file.write_text(key_pem)
    return str(cert_file), str(key_file)


def client(base: str, tmp_path: Path, app, identity=None) -> httpx.Client:
    ca = tmp_path / "trust.pem"
    ca.write_bytes(app.state.runtime.ca.chain_pem())
    context = ssl.create_default_context(cafile=str(ca))
    if identity:
        context.load_cert_chain(*identity)
    return httpx.Client(base_url=base, verify=context, timeout=30)


def credentials(api: Api, who: str, project: str) -> dict:
    reply = api.call(who, "GET", f"/api/projects/{project}/credentials")
    assert reply.status_code == 200, reply.text
    return reply.json()


def forge(subject_cn: str, issuer_key, issuer_name: x509.Name, *, days: tuple[int, int]):
    """A certificate with the subject of a real member but not from our CA (or expired)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .sign(issuer_key or key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_project_certificate_acts_as_its_user_in_its_project_only(
    api: Api, tls_server, app, tmp_path
):
    api.call("scientist", "POST", "/api/projects", json={"name": "other"})
    bundle = credentials(api, "scientist", "demo")
    identity = write_identity(tmp_path, "sci", bundle["certificate"], bundle["private_key"])
    with client(tls_server, tmp_path, app, identity) as c:
        me = c.get("/api/users/me")
        assert me.status_code == 200 and me.json()["email"] == "scientist@example.org"
        assert c.get("/api/projects/demo").json()["role"] == "data_scientist"
        assert (
            c.put("/api/projects/demo/datasets/Resources/files/job.py", content=b"x").status_code
            == 201
        )
        assert c.put("/api/projects/demo/datasets/Logs/files/x", content=b"x").status_code == 403
        # the same person owns `other`, but this certificate is not valid there
        other = c.get("/api/projects/other")
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
        assert c.get("/api/projects").status_code == 403
        assert c.post("/api/projects", json={"name": "sneaky"}).status_code == 403
    feed = api.call("owner", "GET", "/api/projects/demo/activity").json()["items"]
    upload = next(i for i in feed if i["action"] == "file.upload")
    assert upload["actor"] == "scientist@example.org"


def test_plain_https_without_a_client_certificate_uses_tokens(api: Api, tls_server, app, tmp_path):
    with client(tls_server, tmp_path, app) as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/users/me").status_code == 401
        reply = c.get("/api/users/me", headers=api.headers("owner"))
        assert reply.json()["email"] == "owner@example.org"


def test_revocation_is_refused_on_the_very_next_request(api: Api, tls_server, app, tmp_path):
    bundle = credentials(api, "scientist", "demo")
    identity = write_identity(tmp_path, "sci", bundle["certificate"], bundle["private_key"])
    with client(tls_server, tmp_path, app, identity) as c:
        assert c.get("/api/projects/demo").status_code == 200
        assert (
            api.call(
                "owner", "DELETE", "/api/projects/demo/members/scientist@example.org"
            ).status_code
            == 204
        )
        refused = c.get("/api/projects/demo")  # same keep-alive connection
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "certificate_revoked"
    crl = x509.load_pem_x509_crl(api.client.get("/api/ca/crl").content)
    assert crl.get_revoked_certificate_by_serial_number(int(bundle["serial"], 16)) is not None


def _handshake_refused(base: str, tmp_path: Path, app, identity) -> bool:
    try:
        with client(base, tmp_path, app, identity) as c:
            c.get("/api/users/me")
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError):
        return True
    return False


def test_expired_self_signed_and_foreign_ca_certificates_are_refused(
    api: Api, tls_server, app, tmp_path
):
    bundle = credentials(api, "owner", "demo")
    member_cn = bundle["identity"]
    genuine = write_identity(tmp_path, "genuine", bundle["certificate"], bundle["private_key"])
    assert not _handshake_refused(tls_server, tmp_path, app, genuine)  # the check can tell
    current = app.state.runtime.ca.current()
    foreign_ca = ec.generate_private_key(ec.SECP256R1())
    cases = {
        "expired": forge(member_cn, current.key, current.cert.subject, days=(-30, -1)),
        "self-signed": forge(
            member_cn,
            None,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member_cn)]),
            days=(-1, 30),
        ),
        "foreign-ca": forge(member_cn, foreign_ca, current.cert.subject, days=(-1, 30)),
    }
    for name, (cert_pem, key_pem) in cases.items():
        identity = write_identity(tmp_path, name, cert_pem, key_pem)
        assert _handshake_refused(tls_server, tmp_path, app, identity), name


def test_a_certificate_of_a_deleted_project_or_user_is_refused(api: Api, tls_server, app, tmp_path):
    bundle = credentials(api, "scientist", "demo")
    identity = write_identity(tmp_path, "sci", bundle["certificate"], bundle["private_key"])
    assert api.call("admin", "DELETE", "/api/users/scientist@example.org").status_code == 204
    with client(tls_server, tmp_path, app, identity) as c:
        assert c.get("/api/projects/demo").status_code == 401


@pytest.mark.parametrize("leaf_only", [True, False])
def test_certificates_of_a_rotated_intermediate_keep_working(api: Api, app, tmp_path, leaf_only):
    old = credentials(api, "owner", "demo")
    app.state.runtime.ca.rotate_intermediate()
    api.register("late")
    api.add_member("owner", "demo", "late", "data_scientist")
    new = credentials(api, "late", "demo")
    assert new["ca_chain"] != old["ca_chain"]

    server = _serve_in_thread(app, tls=True)
    base = next(server)
    try:
        for name, bundle in (("old", old), ("new", new)):
            chain = "" if leaf_only else bundle["ca_chain"]
            identity = write_identity(
                tmp_path, name, bundle["certificate"], bundle["private_key"], chain
            )
            with client(base, tmp_path, app, identity) as c:
                assert c.get("/api/projects/demo").status_code == 200, name
    finally:
        next(server, None)
