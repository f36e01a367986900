"""The metadata_db role on a lab host, after converge and idempotence (testinfra)."""


def test_mariadb_runs_at_boot_and_speaks_tls(host):
    service = host.service("mariadb")
    assert service.is_running and service.is_enabled
    ssl = host.run("mariadb -N -B -e %s", "SHOW GLOBAL VARIABLES LIKE 'have_ssl'")
    assert ssl.stdout.split() == ["have_ssl", "YES"], ssl.stdout + ssl.stderr


def test_the_platform_schemas_exist(host):
    schemas = host.run("mariadb -N -B -e 'SHOW DATABASES'").stdout.split()
    assert {"hopsworks", "metastore"} <= set(schemas)
