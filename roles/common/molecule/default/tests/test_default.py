"""The common role on a lab host, after converge and idempotence (testinfra)."""


def test_the_platform_user_and_its_limits(host):
    assert host.user("hops").exists
    limits = host.file("/etc/security/limits.d/90-hops.conf")
    assert limits.exists and limits.mode == 0o644 and "hops" in limits.content_string


def test_every_platform_host_is_named_in_etc_hosts(host):
    assert "# BEGIN hopsworks-iac hosts" in host.file("/etc/hosts").content_string
