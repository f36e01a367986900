"""Every port a deployed host listens on either speaks TLS or is here, with the reason.

This is the documented allowlist the lab's port scan checks (`tests/lab/test_site.py`): it
lists each listening socket of every host (`ss`), tries a TLS handshake on it, and fails on
a port that answers in plain text unless its systemd unit is named below. A new service
that listens in plain text therefore fails the scan until it gets TLS or a reason here.
Loopback-only sockets are not reachable from other hosts and are not checked. A plain HTTP
port whose only answer is a redirect to https:// (Spark's web UIs keep one beside their
HTTPS port) carries no data and passes as such.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass

PLAINTEXT_ALLOWED: dict[str, str] = {
    "ssh.service": "SSH: its own encryption and host keys (how Ansible and pyinfra reach the host)",
    "mariadb.service": "MariaDB negotiates TLS inside its own protocol (no TLS first byte); "
    "require_secure_transport and REQUIRE SSL accounts refuse clients that do not "
    "(test_mariadb_serves_tls_and_refuses_plain_tcp)",
}

USERS = re.compile(r'users:\(\("(?P<process>[^"]+)",pid=(?P<pid>\d+)')


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    process: str
    pid: int

    @property
    def loopback_only(self) -> bool:
        address = self.address.removeprefix("::ffff:")
        return address.startswith("127.") or address == "::1"


def parse_ss(output: str) -> list[Listener]:
    """`ss -Htlnp` lines (State Recv-Q Send-Q Local Peer Process) as listeners, one per
    socket (a process listening on IPv4 and IPv6 gives two)."""
    found = []
    for line in output.splitlines():
        fields = line.split()
        users = USERS.search(line)
        if len(fields) < 5 or users is None:
            continue
        address, _, port = fields[3].rpartition(":")
        address = address.removeprefix("[").removesuffix("]")
        found.append(Listener(address, int(port), users.group("process"), int(users.group("pid"))))
    return found


def redirects_to_https(address: str, port: int, timeout: float = 3.0) -> bool:
    """A plain HTTP request is answered with a redirect (3xx) to an https:// location and
    nothing else of substance: the port serves no data in plain text."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: scan\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
    except OSError:
        return False
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].startswith("3"):
        return False
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:])
    }
    return headers.get("location", "").startswith("https://")


def speaks_tls(address: str, port: int, timeout: float = 3.0) -> bool:
    """A TLS handshake succeeds, or the server answers it with a TLS alert (a port that
    wants a client certificate). A plain-text server answers garbage or nothing."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw),
        ):
            return True
    except ssl.SSLError as error:
        return "ALERT" in str(error).upper()
    except OSError:
        return False
