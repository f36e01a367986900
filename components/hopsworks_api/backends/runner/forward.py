"""A sandbox's network: the platform's own services and nothing else.

The sandbox has a network namespace of its own with only a loopback, so nothing outside is
reachable. For every allowed `Endpoint` the service (this half) listens on a unix socket in
the run's directory and relays each connection to the endpoint over TCP; inside, the
stdlib-only `sandbox_forward.py` listens on `127.0.0.N:port` and relays to that socket, which
is bind-mounted in. A generated `/etc/hosts` maps each service's host name to its
`127.0.0.N`, so programs use the names they are configured with: TLS host name checks and
Kafka's advertised listeners still match. An endpoint named by a loopback address listens on
that address; one named by any other IP address cannot be given that address inside, so it
is left out (logged): name platform services by host name.

`platform_endpoints` reads the list from the settings, so a job and a Jupyter server get the
same one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hopsworks_api.backends.runner.base import Endpoint
from hopsworks_api.backends.runner.sandbox_forward import relay
from hopsworks_api.config import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
SCRIPT = Path(__file__).with_name("sandbox_forward.py")
INSIDE_DIR = "/.hops-net"
"""Where the run's network directory (sockets, routes, hosts) appears in the sandbox."""
WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 - names of "every address", not a bind


def _host_port(value: str, default_port: int | None = None) -> Endpoint:
    parsed = urlsplit(value if "//" in value else f"//{value}")
    port = parsed.port or default_port
    if not parsed.hostname or port is None:
        raise ValueError(f"'{value}' is not host:port")
    return Endpoint(parsed.hostname, port)


def platform_endpoints(settings: Settings) -> tuple[Endpoint, ...]:
    """The services a run may reach: this control service's API, the configured Kafka,
    HiveServer2 and WebHDFS, and `sandbox_extra_endpoints` (metastore, Kafka brokers that
    the bootstrap servers advertise under other names, ...)."""
    found: list[Endpoint] = []
    api_host = "localhost" if settings.host in WILDCARDS else settings.host
    found.append(Endpoint(api_host, settings.port))
    if settings.kafka_backend == "cluster" and settings.kafka_bootstrap_servers:
        found += [
            _host_port(server.strip())
            for server in settings.kafka_bootstrap_servers.split(",")
            if server.strip()
        ]
    if settings.hive_backend == "hiveserver2" and settings.hive_host:
        found.append(Endpoint(settings.hive_host, settings.hive_port))
    if settings.storage_backend == "webhdfs" and settings.webhdfs_url:
        scheme = urlsplit(settings.webhdfs_url).scheme
        found.append(_host_port(settings.webhdfs_url, 9871 if scheme == "https" else 9870))
    found += [_host_port(extra) for extra in settings.sandbox_extra_endpoints]
    return tuple(dict.fromkeys(found))  # in order, once each


@dataclass(frozen=True)
class Route:
    address: str
    """Where the sandbox's half listens (a loopback address)."""
    endpoint: Endpoint
    socket_name: str


def plan(endpoints: tuple[Endpoint, ...]) -> tuple[list[Route], dict[str, str]]:
    """The routes, and the host names -> loopback addresses for the sandbox's /etc/hosts."""
    names: dict[str, str] = {"localhost": "127.0.0.1"}
    taken = {"127.0.0.1"}
    literal: list[Endpoint] = []
    for endpoint in endpoints:
        try:
            address = ipaddress.ip_address(endpoint.host)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv4Address) and address.is_loopback:
            taken.add(str(address))
        literal.append(endpoint)
    following = 2
    routes: list[Route] = []
    for index, endpoint in enumerate(endpoints):
        if endpoint in literal:
            address_ = ipaddress.ip_address(endpoint.host)
            if not (isinstance(address_, ipaddress.IPv4Address) and address_.is_loopback):
                log.warning(
                    "a sandbox cannot reach a service named by a non-loopback IP address; "
                    "name it by host name",
                    extra={"endpoint": str(endpoint)},
                )
                continue
            address = str(address_)
        else:
            name = endpoint.host.lower()
            if name not in names:
                while f"127.0.0.{following}" in taken:
                    following += 1
                names[name] = f"127.0.0.{following}"
                taken.add(names[name])
            address = names[name]
        if any((r.address, r.endpoint.port) == (address, endpoint.port) for r in routes):
            continue  # the same service twice (`localhost` and `127.0.0.1`): one listener
        routes.append(Route(address, endpoint, f"{index}.sock"))
    return routes, names


class HostForwarder:
    """The service's half for one run: a listening unix socket per route, a thread that
    accepts on each and a pair of threads per connection. `close` stops accepting; open
    connections end when the sandbox's side closes (it dies with the run)."""

    def __init__(self, net_dir: Path, endpoints: tuple[Endpoint, ...]) -> None:
        self.net_dir = net_dir
        self.routes, self.names = plan(endpoints)
        self._listeners: list[socket.socket] = []

    def start(self) -> None:
        self.net_dir.mkdir(mode=0o700, exist_ok=True)
        # `localhost` resolves too (Spark's and py4j's servers bind to it)
        hosts = "".join(f"{address}\t{name}\n" for name, address in self.names.items())
        hosts += "::1\tlocalhost\n"
        (self.net_dir / "hosts").write_text(hosts)
        (self.net_dir / "nsswitch.conf").write_text("hosts: files\n")
        (self.net_dir / "routes").write_text(
            "".join(
                f"{r.address} {r.endpoint.port} {INSIDE_DIR}/{r.socket_name}\n" for r in self.routes
            )
        )
        # through the directory's descriptor: a run directory's path may be longer than
        # the 107 bytes a unix socket address holds
        directory = os.open(self.net_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for route in self.routes:
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(f"/proc/self/fd/{directory}/{route.socket_name}")
                listener.listen(64)
                self._listeners.append(listener)
                threading.Thread(
                    target=self._serve,
                    args=(listener, route.endpoint),
                    name=f"forward-{route.endpoint}",
                    daemon=True,
                ).start()
        except BaseException:
            self.close()
            raise
        finally:
            os.close(directory)

    def _serve(self, listener: socket.socket, endpoint: Endpoint) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the run ended
                return
            threading.Thread(target=self._connect, args=(client, endpoint), daemon=True).start()

    @staticmethod
    def _connect(client: socket.socket, endpoint: Endpoint) -> None:
        try:
            upstream = socket.create_connection(
                (endpoint.host, endpoint.port), timeout=CONNECT_TIMEOUT_S
            )
        except OSError:
            client.close()  # the program sees the connection closed, as a refusal
            return
        upstream.settimeout(None)
        relay(client, upstream)

    def close(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        self._listeners.clear()
