"""The spark role on a lab host, after converge and idempotence (testinfra)."""


def test_the_spark_daemons_run_and_their_uis_are_https(host):
    for unit in ("spark-master", "spark-worker", "spark-history"):
        assert host.service(unit).is_running, unit
    for port in (8480, 8481, 18480):
        answer = host.run(
            "curl -sS -o /dev/null -w '%%{http_code}' --retry 10 --retry-delay 3 "
            "--retry-all-errors --cacert /etc/hops/pki/ca-chain.pem https://%s:%s/",
            host.ansible.get_variables().get("hops_address", "127.0.0.1"),
            str(port),
        )
        assert answer.stdout in ("200", "302"), (port, answer.stdout, answer.stderr)
