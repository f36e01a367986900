"""How `pyspark` and `spark` jobs run in a sandbox on this host: the job environment's own
`spark-submit` (pip's pyspark ships Spark: its `bin/`, `jars/`), `--master local[N]` with N
the job's cores, the driver's heap sized to fit the job's memory.

Spark in the embedded sandbox needs a few things said explicitly, all through the run's
environment so they hold for a `python` job that starts a SparkSession itself too: the
sandbox's only network is its loopback, without a resolvable host name
(`SPARK_LOCAL_IP`, `SPARK_LOCAL_HOSTNAME`); `/tmp` is a tmpfs that counts against the run's
memory, so Spark's local (shuffle, spill) directories are in the working directory, which is
the run's scratch directory on disk (`SPARK_LOCAL_DIRS`); the Python of the executors is the
environment's (`PYSPARK_PYTHON`); and `SPARK_CONF_DIR` is the credentials directory, where
the run's `spark-defaults.conf` (pki.client_configs) is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hopsworks_api.errors import BadRequest
from hopsworks_api.jobs.models import JobType

SPARK_TYPES = frozenset({JobType.PYSPARK, JobType.SPARK})
APP_SUFFIX = {JobType.PYTHON: ".py", JobType.PYSPARK: ".py", JobType.SPARK: ".jar"}
PROBE_TIMEOUT_S = 30
# prints pyspark's package directory (SPARK_HOME), or fails when pyspark is missing
PROBE = (
    "import importlib.util as u, sys; s = u.find_spec('pyspark'); "
    "sys.exit(1) if s is None else print(s.submodule_search_locations[0])"
)
MIN_MEMORY_MB = 1024
"""Spark refuses a driver heap under 450 MiB; with the overhead below that needs 1 GiB."""
LOCAL_DIRS = "spark-local"
"""Relative: in the run's working directory, its scratch directory."""
# what the embedded sandbox's Spark needs no more of: a web UI nobody can reach (the
# sandbox's loopback only), event logs nobody reads
SANDBOX_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.eventLog.enabled": "false",
}


def spark_home(python: Path, environment: str) -> Path:
    """pyspark's directory in the environment: Spark's home for its `spark-submit`."""
    probe = subprocess.run(  # noqa: S603 - the environment's own interpreter, no shell
        [str(python), "-I", "-c", PROBE],
        capture_output=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
        text=True,
    )
    if probe.returncode != 0 or not probe.stdout.strip():
        raise BadRequest(
            f"pyspark is not installed in environment '{environment}'",
            code="pyspark_missing",
        )
    return Path(probe.stdout.strip())


def check_job(job_type: JobType, app_path: str, main_class: str | None, memory_mb: int) -> None:
    """What a job of this type must say: refused before anything is recorded."""
    suffix = APP_SUFFIX[job_type]
    if not app_path.lower().endswith(suffix):
        raise BadRequest(
            f"a '{job_type.value}' job runs a '{suffix}' file; app_path '{app_path}' is not one",
            code="bad_app_path",
        )
    if job_type == JobType.SPARK and not main_class:
        raise BadRequest(
            "a 'spark' job needs main_class, the class of the jar to run", code="bad_main_class"
        )
    if job_type != JobType.SPARK and main_class:
        raise BadRequest(
            f"main_class is for 'spark' jobs (a jar); a '{job_type.value}' job runs its script",
            code="bad_main_class",
        )
    if job_type in SPARK_TYPES and memory_mb < MIN_MEMORY_MB:
        raise BadRequest(
            f"a '{job_type.value}' job needs resources.memory_mb of at least {MIN_MEMORY_MB} "
            f"(Spark's driver does not start in less); it asks for {memory_mb}",
            code="bad_resources",
        )


def driver_memory_mb(memory_mb: int) -> int:
    """The driver's heap: the job's memory less what the JVM uses beside its heap and the
    Python process, as YARN sizes a Spark container (max(384 MiB, 10 %) of overhead)."""
    return memory_mb - max(384, memory_mb // 10)


def submit_command(
    home: Path,
    job_type: JobType,
    app: str,
    main_class: str | None,
    cores: int,
    memory_mb: int,
    args: list[str],
) -> list[str]:
    """`memory_mb`: all the run may use (local mode: the driver holds the executor)."""
    command = [str(home / "bin" / "spark-submit"), "--master", f"local[{cores}]"]
    command += ["--driver-memory", f"{driver_memory_mb(memory_mb)}m"]
    if job_type == JobType.SPARK:
        assert main_class is not None  # check_job
        command += ["--class", main_class]
    return [*command, app, *args]


def run_env(python: Path, home: Path | None, credentials_dir: str) -> dict[str, str]:
    """For every run (a `python` job may start Spark itself); SPARK_HOME once it is known
    (pyspark's own launcher finds it otherwise)."""
    env = {
        "SPARK_CONF_DIR": credentials_dir,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_HOSTNAME": "localhost",
        "SPARK_LOCAL_DIRS": LOCAL_DIRS,
        "PYSPARK_PYTHON": str(python),
        "PYSPARK_DRIVER_PYTHON": str(python),
    }
    if home is not None:
        env["SPARK_HOME"] = str(home)
    return env
