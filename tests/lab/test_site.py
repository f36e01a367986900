"""The real site.yml on three lab hosts (systemd-nspawn, real systemd, SSH): MariaDB with
TLS, a ZooKeeper quorum, Spark master and workers running a job, the Hive metastore on
MariaDB behind the HiveServer2 protocol, and the control service over TLS with
certificates from the platform CA, which creates a project whose Hive database appears in
the metastore. A second run changes nothing; the roles whose software cannot be
downloaded here run in check mode; backup.yml and restore.yml give everything back. Last,
scale.yml grows the running cluster: a fourth host (`hops-lab add`, in the spark group)
becomes a worker the master lists as ALIVE while the master, the history server and the
old workers keep running without a restart, the running hosts change nothing but their
/etc/hosts, and a second run changes nothing. (On this lab rather than one of its own: a
second Spark deploy cost the suite some six minutes.) Checked with testinfra over the
Ansible inventory.

Takes several minutes (the first run installs Java, MariaDB and pyspark on the hosts);
deselect with `-m "not lab"`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hops_deploy import listeners, ship
from hops_deploy.lab import add, lifecycle, sshkeys
from hops_deploy.lab import state as lab_state
from hops_deploy.lab.state import LabState
from hops_deploy.playbook import PlaybookRun, parse_recap, run_playbook, run_site
from hops_deploy.pyinfra_run import parse_totals
from hops_deploy.topology import load_inventory
from tests.support import readme

testinfra = pytest.importorskip("testinfra")
REPO = Path(__file__).resolve().parents[2]
NAME = "lab"  # the README's: its commands name the hosts lab1..lab3
SECTION = "### Try the real playbook locally: `hops-lab`"


def working_copy(dest: Path) -> Path:
    """A copy of the checkout with its virtualenv, as the README's commands expect."""
    readme.copy_of_checkout(dest)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def shell(line: str, cwd: Path, env: dict[str, str], log: Path) -> PlaybookRun:
    """One README line as a newcomer runs it (`sudo` dropped: the lab tests run as root)."""
    line = line.removeprefix("sudo ")
    started = time.monotonic()
    result = subprocess.run(
        ["/bin/bash", "-ec", line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=3600,
    )
    output = result.stdout + result.stderr
    log.write_text(f"$ {line}\n{output}")
    return PlaybookRun(result.returncode, time.monotonic() - started, parse_recap(output), output)


@pytest.fixture(scope="module")
def deployed(
    lab_machine: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """Three hosts with the platform deployed by the README's lab section, command by
    command, in a copy of the checkout; the runs' results for the tests to check. The
    service reaches the hosts only as the playbooks ship it (the wheelhouse fixture holds
    its dependencies, not it). HOPS_LAB_KEEP=1 leaves the lab up afterwards."""
    up, playbook, pyinfra, last = readme.commands(SECTION)
    base = tmp_path_factory.mktemp("site")
    work = working_copy(base / "checkout")
    env = {
        **os.environ,
        "HOPS_CHECKOUT": str(work),
        "HOPS_LAB_CACHE_DIR": str(lab_machine),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    # run_site (the check-mode run) finds the checkout as the README's commands do
    saved = {key: os.environ.get(key) for key in ("HOPS_CHECKOUT",)}
    os.environ.update({key: env[key] for key in saved})
    lifecycle.down(NAME, lab_machine)
    try:
        started = shell(up, work, env, base / "up.log")
        assert started.returncode == 0, started.explain()
        inventory = work / "inventories" / "lab" / "hosts.yml"
        first = shell(playbook, work, env, base / "first.log")
        assert first.returncode == 0, first.explain()
        second = shell(playbook, work, env, base / "second.log")
        check = run_site(
            inventory, ["--check", "--tags", "needs_downloads"], log=base / "check.log"
        )
        twin = shell(pyinfra, work, env, base / "pyinfra.log")
        print(
            f"site.yml on 3 hosts: {first.seconds:.0f} s; re-run {second.seconds:.0f} s; "
            f"pyinfra after it {twin.seconds:.0f} s"
        )
        yield {
            "inventory": inventory,
            "first": first,
            "second": second,
            "check": check,
            "pyinfra": twin,
            "last": last,
            "work": work,
            "env": env,
            "base": base,
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if os.environ.get("HOPS_LAB_KEEP") != "1":
            # The README's last line: status, a login on lab1 (stdin closed: it returns),
            # and `down`, which must leave nothing behind.
            ended = shell(last, work, env, base / "last.log")
            lifecycle.down(NAME, lab_machine)
            assert ended.returncode == 0, ended.explain()
            assert "lab1" in ended.output and NAME not in lab_state.lab_names(lab_machine)


def host(deployed: dict, name: str):  # type: ignore[no-untyped-def]
    return testinfra.get_host(
        f"ansible://{NAME}{name}?ansible_inventory={deployed['inventory']}", sudo=False
    )


def address(deployed: dict, name: str) -> str:
    return load_inventory(deployed["inventory"]).variables(f"{NAME}{name}")["ansible_host"]


@pytest.mark.lab
def test_a_second_run_changes_nothing(deployed: dict):
    second: PlaybookRun = deployed["second"]
    assert second.returncode == 0, second.explain()
    assert set(second.recap) == {f"{NAME}{i}" for i in (1, 2, 3)}
    assert second.changed == {h: 0 for h in second.recap}, second.changed_tasks()


@pytest.mark.lab
def test_the_service_is_the_wheel_shipped_from_the_checkout(deployed: dict, wheelhouse: Path):
    """No index has the service: the hosts run the wheel the playbook built from the
    checkout it ran in, by its version (the wheelhouse holds only its dependencies)."""
    version = ship.source_version(deployed["work"])
    assert not list(wheelhouse.glob(f"{ship.DIST_NAME}-*.whl"))
    lab1 = host(deployed, "1")
    assert lab1.file(f"/opt/hops/wheels/{ship.wheel_name(version)}").is_file
    shown = lab1.run("/opt/hops/venv/bin/python -m pip show hopsworks-iac")
    assert f"Version: {version}" in shown.stdout, shown.stdout + shown.stderr
    # with its notebooks extra, resolved for the hosts' Python (3.11.2), not the builder's
    imported = lab1.run(
        "/opt/hops/venv/bin/python -c %s",
        "import bs4, jupyter_server, jupyterlab, soupsieve; print(jupyterlab.__version__)",
    )
    assert imported.rc == 0 and imported.stdout.startswith("4."), imported.stderr
    # and the model servers' environment, built by the role from the same wheelhouse
    runtime = lab1.run(
        "sudo -u hops -H bash -c %s",
        "set -a && . /etc/hops/hopsworks_api.env && set +a && "
        "/opt/hops/venv/bin/hops servings check-runtime",
    )
    assert runtime.rc == 0, runtime.stdout + runtime.stderr
    python = runtime.stdout.split("ready: ", 1)[1].strip()
    served = lab1.run("%s -c 'import joblib, kserve, sklearn'", python)
    assert served.rc == 0, served.stderr


@pytest.mark.lab
def test_pyinfra_after_ansible_deploys_the_same_platform(deployed: dict):
    """The README's pyinfra line, run as its comment allows, on the hosts Ansible deployed:
    every operation of the three hosts runs without an error (test_twins compares the
    tools' files byte for byte and their re-runs)."""
    twin: PlaybookRun = deployed["pyinfra"]
    assert twin.returncode == 0, twin.explain()
    operations, changed, errors = parse_totals(twin.output)
    assert operations > 0 and errors == 0, twin.output[-3000:]
    print(f"pyinfra after ansible: {changed} of {operations} operations changed something")


@pytest.mark.lab
def test_every_listening_port_speaks_tls_or_is_allowed_with_its_reason(deployed: dict):
    """A port scan of every host: each socket reachable from other hosts either completes a
    TLS handshake or belongs to a systemd unit of the documented allowlist
    (hops_deploy/listeners.py, with each one's reason); a plain HTTP port passes when all
    it answers is a redirect to https://."""
    tls, redirects, allowed, refused = [], [], [], []
    for i in (1, 2, 3):
        node, addr = host(deployed, str(i)), address(deployed, str(i))
        listed = node.run("ss -Htlnp")
        assert listed.rc == 0, listed.stderr
        for listener in listeners.parse_ss(listed.stdout):
            if listener.loopback_only:
                continue
            where = f"{NAME}{i}:{listener.port} ({listener.process})"
            if listeners.speaks_tls(addr, listener.port):
                tls.append(where)
                continue
            if listeners.redirects_to_https(addr, listener.port):
                redirects.append(where)
                continue
            unit = node.run("ps -o unit= -p %s", str(listener.pid)).stdout.strip()
            (allowed if unit in listeners.PLAINTEXT_ALLOWED else refused).append(f"{where} {unit}")
    print("TLS:", ", ".join(sorted(set(tls))))
    print("redirects to https:", ", ".join(sorted(set(redirects))))
    print("plain text, allowed:", ", ".join(sorted(set(allowed))))
    assert not refused, f"plain-text ports with no reason in hops_deploy/listeners.py: {refused}"
    assert any(":8181 " in where for where in tls)  # the control service
    for port in (2181, 3888):  # ZooKeeper's client and election ports on every member
        assert len({where for where in tls if f":{port} " in where}) == 3, (port, tls)
    # the Hive metastore; Spark's web UIs: the master's and history server's on lab1, the
    # workers' on lab2 and lab3, each plain port only a redirect to its HTTPS one
    # HiveServer2, and Spark's RPC: the master's and the workers' ports
    for port, count in (
        (9083, 1),
        (10000, 1),
        (8480, 1),
        (18480, 1),
        (8481, 2),
        (7077, 1),
        (7078, 2),
    ):
        assert len({where for where in tls if f":{port} " in where}) == count, (port, tls)
    for port, count in ((8080, 1), (18080, 1), (8081, 2)):
        assert len({w for w in redirects if f":{port} " in w}) == count, (port, redirects)


@pytest.mark.lab
def test_roles_that_need_downloads_pass_check_mode(deployed: dict):
    check: PlaybookRun = deployed["check"]
    assert check.returncode == 0, check.explain()
    assert all(counts.get("failed", 0) == 0 for counts in check.recap.values())
    for role in ("hdfs", "yarn", "kafka", "kubernetes"):
        assert f"TASK [{role} :" in check.output


@pytest.mark.lab
def test_every_host_has_a_certificate_from_the_platform_ca(deployed: dict):
    for i in (1, 2, 3):
        node = host(deployed, str(i))
        verify = node.run(
            "openssl verify -CAfile /etc/hops/pki/ca-chain.pem /etc/hops/pki/host.pem"
        )
        assert verify.rc == 0 and verify.stdout.strip().endswith("OK"), verify.stderr
        key = node.file("/etc/hops/pki/host.key")
        assert key.mode == 0o600 and key.user == "hops"


@pytest.mark.lab
def test_mariadb_serves_tls_and_refuses_plain_tcp(deployed: dict):
    lab1, addr = host(deployed, "1"), address(deployed, "1")
    assert lab1.service("mariadb").is_running and lab1.service("mariadb").is_enabled
    lab_vars = yaml.safe_load((REPO / "inventories/lab/group_vars/all/backends.yml").read_text())
    password = lab_vars["hops_db_service_password"]
    tls = lab1.run(
        "mariadb -h %s -u hopsworks -p%s --ssl-ca=/etc/hops/pki/ca-chain.pem "
        "--ssl-verify-server-cert -N -e \"SHOW STATUS LIKE 'Ssl_version'\"",
        addr,
        password,
    )
    assert tls.rc == 0 and "TLSv1" in tls.stdout, tls.stderr
    # the same account and password, which just worked over TLS, without it: refused
    plain = lab1.run("mariadb -h %s -u hopsworks -p%s --skip-ssl -e 'SELECT 1'", addr, password)
    assert plain.rc != 0, plain.stdout


@pytest.mark.lab
def test_zookeeper_has_a_quorum_across_the_hosts(deployed: dict):
    modes = []
    for i in (1, 2, 3):
        node = host(deployed, str(i))
        assert node.service("hops-zookeeper").is_running
        # TLS only, with a client certificate of the platform CA (here the host's own)
        reply = node.run(
            "echo srvr | openssl s_client -quiet -verify_return_error -connect %s:2181 "
            "-cert /etc/hops/pki/host.pem -key /etc/hops/pki/host.key "
            "-CAfile /etc/hops/pki/ca-chain.pem",
            address(deployed, str(i)),
        )
        assert reply.rc == 0, reply.stderr
        without_certificate = node.run(
            "echo srvr | openssl s_client -quiet -connect %s:2181 -CAfile /etc/hops/pki/ca-chain.pem",
            address(deployed, str(i)),
        )
        assert "Mode" not in without_certificate.stdout
        modes += [line.split(": ")[1] for line in reply.stdout.splitlines() if "Mode" in line]
    assert sorted(modes) == ["follower", "follower", "leader"]


@pytest.mark.lab
def test_spark_master_and_workers_run_a_job(deployed: dict):
    lab1, master = host(deployed, "1"), address(deployed, "1")
    # the master's web UI over HTTPS with the host certificate; the plain port redirects
    state = json.loads(
        lab1.run("curl -s --cacert /etc/hops/pki/ca-chain.pem https://%s:8480/json/", master).stdout
    )
    assert state["status"] == "ALIVE" and state["aliveworkers"] >= 2
    redirect = lab1.run("curl -s -o /dev/null -w '%%{redirect_url}' http://%s:8080/json/", master)
    assert redirect.stdout.startswith(f"https://{master}:8480/"), redirect.stdout
    # RPC speaks TLS: an application uses the host's Spark configuration (its identity, the
    # CA), as spark-submit from a login shell does
    job = lab1.run(
        "sudo -u hops env SPARK_CONF_DIR=/etc/hops/spark /opt/hops/spark-venv/bin/python -c "
        '"from pyspark.sql import SparkSession; '
        "s = SparkSession.builder.master('spark://%s:7077').config('spark.executor.memory', "
        "'512m').config('spark.driver.host', '%s').config('spark.pyspark.python', "
        "'/opt/hops/spark-venv/bin/python').getOrCreate(); "
        "print('count', s.sparkContext.parallelize(range(10000), 4).map(lambda x: x * 2).sum()); "
        's.stop()"',
        master,
        master,
    )
    assert job.rc == 0 and "count 99990000" in job.stdout, job.stderr[-3000:]
    # an application with the host's Spark defaults reaches the metastore over TLS
    catalog = lab1.run(
        "sudo -u hops env SPARK_CONF_DIR=/etc/hops/spark /opt/hops/spark-venv/bin/python -c "
        '"from pyspark.sql import SparkSession; '
        "s = SparkSession.builder.master('local[1]').enableHiveSupport().getOrCreate(); "
        "print('databases', sorted(r[0] for r in s.sql('SHOW DATABASES').collect())); "
        's.stop()"'
    )
    assert catalog.rc == 0 and "'default'" in catalog.stdout, catalog.stderr[-3000:]


@pytest.mark.lab
def test_control_service_over_tls_creates_a_project_whose_hive_database_is_in_the_metastore(
    deployed: dict, tmp_path: Path
):
    lab1, addr = host(deployed, "1"), address(deployed, "1")
    chain = tmp_path / "ca.pem"
    chain.write_text(lab1.file("/etc/hops/pki/ca-chain.pem").content_string)
    with httpx.Client(base_url=f"https://{addr}:8181", verify=str(chain), timeout=120) as api:
        assert api.get("/api/health").json()["database"] in ("mysql", "mariadb")
        user = {"email": "owner@example.org", "password": "correct horse battery"}
        assert api.post("/api/auth/register", json=user).status_code in (201, 409)
        token = api.post("/api/auth/login", json=user).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = api.post("/api/projects", json={"name": "lab_demo"}, headers=headers)
        assert created.status_code == 201, created.text
        hive = api.get("/api/projects/lab_demo/hive", headers=headers).json()
        assert hive["database"] == "lab_demo"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = lab1.run("mariadb -N metastore -e 'SELECT NAME, DB_LOCATION_URI FROM DBS'")
        if "lab_demo" in rows.stdout:
            break
        time.sleep(1)
    assert "lab_demo\tfile:/srv/hops/shared/warehouse/lab_demo.db" in rows.stdout, rows.stdout


PEOPLE_CSV = b"name,age\nada,36\ngrace,45\nlinus,28\n"
# Reads the uploaded file and writes the table on the executors (on the workers, which see
# the datasets and the warehouse on the lab's shared directory), and says where they ran.
SPARK_JOB = b"""
import os, socket
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
project = os.environ["HOPS_PROJECT"]
path = "file://" + os.environ["HOPS_DATASETS_DIR"] + "/Resources/data/people.csv"
people = spark.read.csv(path, header=True, inferSchema=True)
people.repartition(2).write.mode("overwrite").saveAsTable(project + ".people")
hosts = people.rdd.map(lambda _: socket.gethostname()).distinct().collect()
print("executors on", ",".join(sorted(hosts)))
print("rows written", spark.table(project + ".people").count())
spark.stop()
"""


def _until_done(api: httpx.Client, url: str, headers: dict, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = api.get(url, headers=headers).json()
        if body["state"] in ("FINISHED", "FAILED", "KILLED"):
            return body
        time.sleep(1)
    raise AssertionError(f"{url} did not end in {seconds:.0f} s: {body}")


@pytest.mark.lab
def test_a_pyspark_job_runs_on_the_spark_cluster_and_writes_a_hive_table(
    deployed: dict, tmp_path: Path
):
    lab1, addr = host(deployed, "1"), address(deployed, "1")
    chain = tmp_path / "ca.pem"
    chain.write_text(lab1.file("/etc/hops/pki/ca-chain.pem").content_string)
    project = "lab_jobs"
    with httpx.Client(base_url=f"https://{addr}:8181", verify=str(chain), timeout=120) as api:
        user = {"email": "owner@example.org", "password": "correct horse battery"}
        assert api.post("/api/auth/register", json=user).status_code in (201, 409)
        token = api.post("/api/auth/login", json=user).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = api.post("/api/projects", json={"name": project}, headers=headers)
        assert created.status_code == 201, created.text
        files = f"/api/projects/{project}/datasets/Resources/files"
        for path, data in (("data/people.csv", PEOPLE_CSV), ("jobs/people.py", SPARK_JOB)):
            uploaded = api.put(f"{files}/{path}", content=data, headers=headers)
            assert uploaded.status_code == 201, uploaded.text
        job = {
            "name": "people",
            "type": "pyspark",
            "app_path": "Resources/jobs/people.py",
            "resources": {"executors": 2, "executor_cores": 1, "executor_memory_mb": 512},
        }
        jobs = f"/api/projects/{project}/jobs"
        reply = api.post(jobs, json=job, headers=headers)
        assert reply.status_code == 201, reply.text
        started = api.post(f"{jobs}/people/executions", json={}, headers=headers)
        assert started.status_code == 201, started.text
        url = f"{jobs}/people/executions/{started.json()['id']}"
        done = _until_done(api, url, headers, 300)
        stdout = api.get(f"{url}/log", params={"stream": "stdout"}, headers=headers).text
        stderr = api.get(f"{url}/log", params={"stream": "stderr"}, headers=headers).text
    assert (done["state"], done["exit_code"]) == ("FINISHED", 0), stderr[-6000:]
    assert "rows written 3" in stdout, stdout
    # the executors ran on the workers, not on the control host
    ran_on = stdout.split("executors on ", 1)[1].split()[0].split(",")
    assert ran_on and set(ran_on) <= {f"{NAME}2", f"{NAME}3"}, stdout
    assert f"spark://{addr}:7077" in stderr and f"{project}/people/" in stderr
    rows = lab1.run(
        "cd /srv/hops/hive && SPARK_HOME=/opt/hops/spark-venv/lib/python3.11/site-packages/pyspark"
        " /opt/hops/spark-venv/bin/beeline -u 'jdbc:hive2://%s:10000/default;ssl=true;"
        "sslTrustStore=/etc/hops/hive/truststore.p12' -n hops"
        " --silent=true --outputformat=csv2 -e 'SELECT name, age FROM %s.people ORDER BY name'",
        addr,
        project,
    )
    assert rows.rc == 0, rows.stderr[-3000:]
    # beeline may echo its prompt before the header: the header and rows end its output
    assert rows.stdout.split()[-4:] == ["name,age", "ada,36", "grace,45", "linus,28"], rows.stdout


def _owner_session(api: httpx.Client) -> dict[str, str]:
    user = {"email": "owner@example.org", "password": "correct horse battery"}
    assert api.post("/api/auth/register", json=user).status_code in (201, 409)
    token = api.post("/api/auth/login", json=user).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.lab
def test_a_backup_restored_after_the_state_is_lost_gives_everything_back(
    deployed: dict, tmp_path: Path
):
    """backup.yml, then the service's schemas and the CA host's whole state directory are
    lost, then restore.yml (which re-runs site.yml, without the roles the lab cannot
    download, as the README runs it): the same accounts (the JWT key and the users), the
    same projects and CA, the files readable through the restored metadata (the lab keeps
    their bytes on its shared directory, the stand-in for HDFS, which a backup leaves to its
    own snapshots), and an audit chain that still verifies with the restored key."""
    lab1, addr = host(deployed, "1"), address(deployed, "1")
    chain = tmp_path / "ca.pem"
    chain.write_text(lab1.file("/etc/hops/pki/ca-chain.pem").content_string)
    notes = b"kept across a restore\n" * 100
    with httpx.Client(base_url=f"https://{addr}:8181", verify=str(chain), timeout=120) as api:
        headers = _owner_session(api)
        created = api.post("/api/projects", json={"name": "lab_kept"}, headers=headers)
        assert created.status_code == 201, created.text
        put = api.put(
            "/api/projects/lab_kept/datasets/Resources/files/notes.txt",
            content=notes,
            headers=headers,
        )
        assert put.status_code == 201, put.text
        before = sorted(
            p["name"] for p in api.get("/api/projects", headers=headers).json()["items"]
        )

    name = ["-e", "platform_state_backup_name=lab"]
    backup = run_playbook("backup.yml", deployed["inventory"], name, log=tmp_path / "b.log")
    assert backup.returncode == 0, backup.explain()
    saved = deployed["work"] / "backups" / "lab"
    manifest = json.loads((saved / "manifest.json").read_text())
    assert set(manifest["sha256"]) == {"metadata.sql.gz", "state.tar.gz"}
    assert {oct(p.stat().st_mode & 0o777) for p in saved.iterdir()} == {"0o600"}

    lost = lab1.run(
        "systemctl stop hopsworks-api && mariadb -e 'DROP DATABASE hopsworks' "
        "&& rm -rf /var/lib/hops"
    )
    assert lost.rc == 0, lost.stderr
    skip = ["--skip-tags", "needs_downloads"]
    restored = run_playbook(
        "restore.yml", deployed["inventory"], [*name, *skip], log=tmp_path / "r.log"
    )
    assert restored.returncode == 0, restored.explain()

    assert lab1.file("/etc/hops/pki/ca-chain.pem").content_string == chain.read_text()
    with httpx.Client(base_url=f"https://{addr}:8181", verify=str(chain), timeout=120) as api:
        headers = _owner_session(api)
        after = sorted(p["name"] for p in api.get("/api/projects", headers=headers).json()["items"])
        read = api.get("/api/projects/lab_kept/datasets/Resources/files/notes.txt", headers=headers)
    assert after == before and "lab_kept" in after
    assert read.status_code == 200 and read.content == notes
    verified = lab1.run(
        "sudo -u hops bash -c %s",
        "set -a && . /etc/hops/hopsworks_api.env && set +a && /opt/hops/venv/bin/hops audit verify",
    )
    assert verified.rc == 0, verified.stdout + verified.stderr


# scale.yml on the running site: after every test above (it changes the lab), module order.
MASTER, NEW_WORKER = f"{NAME}1", f"{NAME}4"
OLD_WORKERS = (f"{NAME}2", f"{NAME}3")
DAEMONS = {MASTER: ("spark-master", "spark-history")} | {w: ("spark-worker",) for w in OLD_WORKERS}
ETC_HOSTS_TASK = "TASK [common : Every platform host is named in /etc/hosts]"


def on(lab: LabState, name: str, command: str, timeout: float = 120) -> str:
    """A shell command on a lab host as root; its stdout (fails the test on exit != 0)."""
    result = sshkeys.run(
        Path(lab.ssh_key or ""), lab.host(name).address, ["sh", "-c", command], timeout
    )
    assert result.returncode == 0, f"{name}: {command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def master_state(lab: LabState) -> dict:
    """The master's /json/ over HTTPS with the platform CA (its web UI)."""
    url = f"https://{lab.host(MASTER).address}:8480/json/"
    return json.loads(on(lab, MASTER, f"curl -sf --cacert /etc/hops/pki/ca-chain.pem {url}"))


def alive_workers(lab: LabState) -> set[str]:
    """Addresses of the workers the master lists as ALIVE (empty while it starts)."""
    try:
        state = master_state(lab)
    except (AssertionError, json.JSONDecodeError):
        return set()
    return {w["host"] for w in state.get("workers", []) if w.get("state") == "ALIVE"}


def wait_for_workers(lab: LabState, names: set[str], timeout: float = 600) -> None:
    """Poll until the master lists exactly these hosts' workers as ALIVE (a worker
    registers some 40 s after its start on an idle machine; CI shares 2 cores)."""
    wanted = {lab.host(h).address for h in names}
    deadline = time.monotonic() + timeout
    while (seen := alive_workers(lab)) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"alive workers {sorted(seen)}, expected {sorted(wanted)}")
        time.sleep(5)


def daemons(lab: LabState) -> dict[str, str]:
    """Each running daemon's main PID, start time and restart count, to compare."""
    return {
        f"{name}/{unit}": on(
            lab,
            name,
            f"systemctl show -p ActiveState -p MainPID -p ActiveEnterTimestamp "
            f"-p NRestarts {unit}.service",
        )
        for name, units in DAEMONS.items()
        for unit in units
    }


def changed_on(run: PlaybookRun, name: str) -> set[str]:
    """The tasks that reported a change on `name` itself (not delegated from another)."""
    found, task = set(), ""
    for line in run.output.splitlines():
        if line.startswith("TASK ["):
            task = line.split("]", 1)[0] + "]"
        elif re.match(rf"changed: \[{re.escape(name)}\]", line):
            found.add(task)
    return found


@pytest.fixture(scope="module")
def scaled(deployed: dict, lab_machine: Path) -> dict:
    """A fourth host added to the spark group of the deployed lab, scale.yml run twice;
    the daemons' state before and after."""
    lab = lab_state.load(lab_machine, NAME)
    assert lab is not None and Path(lab.inventory or "") == deployed["inventory"]
    wait_for_workers(lab, set(OLD_WORKERS))
    before = daemons(lab)
    added = add.add(NAME, ["spark"], lab_machine)
    assert added.name == NEW_WORKER
    lab = lab_state.load(lab_machine, NAME)
    assert lab is not None
    base = deployed["base"]
    first = run_playbook("scale.yml", deployed["inventory"], log=base / "scale-first.log")
    assert first.returncode == 0, first.explain()
    wait_for_workers(lab, {*OLD_WORKERS, NEW_WORKER})
    second = run_playbook("scale.yml", deployed["inventory"], log=base / "scale-second.log")
    print(f"scale.yml adding a worker {first.seconds:.0f} s; re-run {second.seconds:.0f} s")
    return {"lab": lab, "first": first, "second": second, "before": before, "after": daemons(lab)}


@pytest.mark.lab
def test_scale_the_master_lists_the_new_worker_alive(scaled: dict) -> None:
    lab = scaled["lab"]
    state = master_state(lab)
    assert state["status"] == "ALIVE" and state["aliveworkers"] == 3, state
    assert alive_workers(lab) == {lab.host(h).address for h in (*OLD_WORKERS, NEW_WORKER)}
    # the new host is a worker only: the master and history server stay on the first host
    units = on(lab, NEW_WORKER, "systemctl list-unit-files 'spark-*' --no-legend")
    assert "spark-worker.service" in units and "spark-master" not in units, units


@pytest.mark.lab
def test_scale_the_running_daemons_were_not_restarted(scaled: dict) -> None:
    assert scaled["after"] == scaled["before"]
    assert all("ActiveState=active" in shown for shown in scaled["after"].values())


@pytest.mark.lab
def test_scale_the_running_hosts_only_learn_the_new_name(scaled: dict) -> None:
    first: PlaybookRun = scaled["first"]
    for name in (MASTER, *OLD_WORKERS):
        assert changed_on(first, name) <= {ETC_HOSTS_TASK}, changed_on(first, name)
        assert NEW_WORKER in on(scaled["lab"], name, "getent hosts " + NEW_WORKER)
    assert first.changed[NEW_WORKER] > 0


@pytest.mark.lab
def test_scale_a_second_run_changes_nothing(scaled: dict) -> None:
    second: PlaybookRun = scaled["second"]
    assert second.returncode == 0, second.explain()
    assert set(second.recap) == {MASTER, *OLD_WORKERS, NEW_WORKER}
    assert second.changed == {h: 0 for h in second.recap}, second.changed_tasks()
