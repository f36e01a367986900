"""The hopsworks_api role on a lab host, after converge and idempotence (testinfra)."""


def test_the_control_service_runs_and_answers_over_tls(host):
    service = host.service("hopsworks-api")
    assert service.is_running and service.is_enabled
    health = host.run(
        "curl -sS --retry 10 --retry-delay 3 --retry-all-errors "
        "--cacert /etc/hops/pki/ca-chain.pem https://%s:8181/api/health",
        host.ansible.get_variables().get("hops_address", "127.0.0.1"),
    )
    assert '"status":"ok"' in health.stdout.replace(" ", ""), health.stdout + health.stderr


def test_its_settings_are_readable_by_the_service_group_only(host):
    settings = host.file("/etc/hops/hopsworks_api.env")
    assert settings.mode == 0o640 and settings.group == "hops"
