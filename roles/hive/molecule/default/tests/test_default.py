"""The hive role on a lab host, after converge and idempotence (testinfra)."""

# HiveServer2 (the Spark Thrift Server) opens its port a minute or more after its start on
# a loaded machine: wait for it rather than race it.
LISTENING = "timeout 300 bash -c 'until ss -Hltn sport = :%s | grep -q .; do sleep 2; done'"


def test_the_metastore_and_hiveserver2_run_and_listen(host):
    for unit, port in (("hive-metastore", 9083), ("hive-server2", 10000)):
        assert host.service(unit).is_running, unit
        assert host.run(LISTENING % port).rc == 0, f"nothing listens on {port}"
