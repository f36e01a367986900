"""The zookeeper role on a lab host, after converge and idempotence (testinfra)."""


def test_zookeeper_serves_tls_only(host):
    assert host.service("hops-zookeeper").is_running
    handshake = host.run(
        "timeout 10 openssl s_client -connect 127.0.0.1:2181 -CAfile /etc/hops/pki/ca-chain.pem"
        " -cert /etc/hops/pki/host.pem -key /etc/hops/pki/host.key </dev/null"
    )
    assert "Verify return code: 0 (ok)" in handshake.stdout, handshake.stdout + handshake.stderr
