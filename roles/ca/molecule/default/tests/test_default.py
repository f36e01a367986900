"""The ca role on a lab host, after converge and idempotence (testinfra)."""

PKI = "/etc/hops/pki"


def test_the_host_certificate_is_issued_by_the_platform_ca(host):
    verified = host.run("openssl verify -CAfile %s/ca-chain.pem %s/host.pem", PKI, PKI)
    assert verified.rc == 0, verified.stderr


def test_private_keys_are_readable_by_their_owner_only(host):
    for name in ("host.key", "host-keystore.pem"):
        assert host.file(f"{PKI}/{name}").mode == 0o600, name
