"""The port scan's pieces (hops_deploy.listeners): reading `ss` and telling TLS from plain
text, against real local servers. The scan itself runs on the lab hosts (test_site)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hops_deploy.listeners import PLAINTEXT_ALLOWED, parse_ss, redirects_to_https, speaks_tls

SS = """LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=101,fd=3))
LISTEN 0      80         127.0.0.1:3306      0.0.0.0:*    users:(("mariadbd",pid=202,fd=20))
LISTEN 0      50                 *:7077            *:*    users:(("java",pid=303,fd=300))
LISTEN 0      50  [::ffff:10.0.0.11]:9083           *:*    users:(("java",pid=404,fd=9))
LISTEN 0      50     [::ffff:127.0.0.1]:9999        *:*    users:(("java",pid=505,fd=9))
LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=101,fd=4))
LISTEN 0      4096    127.0.0.53%lo:53        0.0.0.0:*
"""


def test_ss_lines_become_listeners() -> None:
    found = parse_ss(SS)
    assert [(x.address, x.port, x.process, x.pid) for x in found] == [
        ("0.0.0.0", 22, "sshd", 101),
        ("127.0.0.1", 3306, "mariadbd", 202),
        ("*", 7077, "java", 303),
        ("::ffff:10.0.0.11", 9083, "java", 404),
        ("::ffff:127.0.0.1", 9999, "java", 505),
        ("::", 22, "sshd", 101),
    ]
    assert [x.loopback_only for x in found] == [False, True, False, False, True, False]


def test_every_allowed_plaintext_unit_says_why() -> None:
    assert all(
        unit.endswith(".service") and len(why) > 20 for unit, why in PLAINTEXT_ALLOWED.items()
    )


@contextlib.contextmanager
def serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A local TCP server calling `handle` on each connection; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.fixture
def plain_server() -> Iterator[int]:
    """Answers every connection with a line of text, as a plain-text protocol would."""
    with serving(lambda conn: conn.sendall(b"HELLO plain text\r\n")) as port:
        yield port


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS server with a self-made certificate (the scan verifies nothing, it only asks
    whether the port speaks TLS)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scan")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    def handshake(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello over TLS\n")
        except (ssl.SSLError, OSError):
            pass

    with serving(handshake) as port:
        yield port


def test_tls_is_told_from_plain_text(plain_server: int, tls_server: int) -> None:
    assert speaks_tls("127.0.0.1", tls_server)
    assert not speaks_tls("127.0.0.1", plain_server)
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not speaks_tls("127.0.0.1", port)


def answering(reply: bytes):  # type: ignore[no-untyped-def]
    """A server that reads a request and answers `reply`, as an HTTP server would."""

    def handle(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(reply)

    return serving(handle)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            b"HTTP/1.1 302 Found\r\nLocation: https://10.0.0.1:8480/\r\nContent-Length: 0\r\n\r\n",
            True,
        ),
        (b"HTTP/1.1 301 Moved\r\nlocation:https://h/x\r\n\r\n", True),
        (b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1:8080/\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>workers</html>", False),
        (b"HELLO plain text\r\n", False),
    ],
)
def test_a_plain_port_passes_only_when_it_redirects_to_https(reply: bytes, expected: bool) -> None:
    with answering(reply) as port:
        assert redirects_to_https("127.0.0.1", port) is expected


def test_a_tls_port_is_not_a_redirect(tls_server: int) -> None:
    assert not redirects_to_https("127.0.0.1", tls_server)
