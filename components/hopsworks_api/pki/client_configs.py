"""Ready client configurations for a member's credentials: how a program reaches the
project's Kafka, Hive and storage with the certificate bundle it was given.

Pure functions from the settings and where the program finds its files (`ClientContext`) to
file contents, so the same files are materialised next to the credentials of every job run
(and notebook) and can be written by `hops credentials write DIR` for a program run
elsewhere. Nothing here knows about jobs; what only one kind of run needs (e.g. the Spark
properties of the embedded sandbox) is passed in (`spark_extra`).

Files (Java properties syntax, which Spark's `spark-defaults.conf` also is):

- `kafka.properties`: a Java Kafka client's (and Spark's Kafka source's, each key prefixed
  `kafka.`) settings: the bootstrap servers and, for an SSL cluster, the member's PKCS#12
  keystore and truststore with their passwords.
- `spark-defaults.conf`: the Hive catalog (metastore, warehouse, the project's database as
  the default one) when a metastore is configured; point `SPARK_CONF_DIR` at the directory.
- `hive.properties`: the HiveServer2 JDBC URL, database and user.
- `storage.properties`: where the project's datasets are (a directory of files, or WebHDFS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hopsworks_api.config import Settings

KAFKA = "kafka.properties"
SPARK_DEFAULTS = "spark-defaults.conf"
HIVE = "hive.properties"
STORAGE = "storage.properties"
KEYSTORE = "keystore.p12"
TRUSTSTORE = "truststore.p12"


@dataclass(frozen=True)
class ClientContext:
    """Whose configuration it is and where the program sees its files."""

    project: str
    identity: str
    """`<project>__<user>`: the certificate's CN, the Kafka and Hive principal."""
    credentials_dir: str
    """Where the program finds the bundle (`keystore.p12`, `truststore.p12`, ...)."""
    keystore_password: str
    truststore_password: str
    datasets_dir: str | None = None
    """Where the project's datasets are files (the embedded sandbox's `/hopsfs`); None when
    the program reaches them through the storage's own protocol only."""


def _escape(value: str) -> str:
    """A Java properties value read back exactly (`java.util.Properties.load`)."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + escaped if escaped[:1] in (" ", "\t", "\f") else escaped


def _properties(
    header: Iterable[str], pairs: Iterable[tuple[str, str]], separator: str = "="
) -> str:
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"{key}{separator}{_escape(value)}" for key, value in pairs]
    return "\n".join(lines) + "\n"


def _path(ctx: ClientContext, name: str) -> str:
    return f"{ctx.credentials_dir.rstrip('/')}/{name}"


def kafka_properties(settings: Settings, ctx: ClientContext) -> str:
    header = [
        f"Kafka client configuration of {ctx.identity} (project {ctx.project}).",
        f"Topics are named '{ctx.project}.<topic>', consumer groups '{ctx.project}.<name>'.",
        "librdkafka clients (confluent-kafka) use the PEM files next to this one instead:",
        "ssl.ca.location=ca_chain.pem, ssl.certificate.location=certificate.pem,",
        "ssl.key.location=private_key.pem.",
    ]
    if settings.kafka_backend == "embedded" or not settings.kafka_bootstrap_servers:
        return _properties(
            [
                *header[:2],
                "The platform runs the embedded Kafka backend: it keeps topics and ACLs in the",
                "control service only and has no broker, so there is nothing to connect to.",
            ],
            [],
        )
    pairs = [
        ("bootstrap.servers", settings.kafka_bootstrap_servers),
        ("security.protocol", settings.kafka_security_protocol),
    ]
    if settings.kafka_security_protocol == "SSL":
        pairs += [
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", _path(ctx, KEYSTORE)),
            ("ssl.keystore.password", ctx.keystore_password),
            ("ssl.key.password", ctx.keystore_password),
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.location", _path(ctx, TRUSTSTORE)),
            ("ssl.truststore.password", ctx.truststore_password),
        ]
    return _properties(header, pairs)


def spark_defaults(
    settings: Settings, ctx: ClientContext, spark_extra: Mapping[str, str] | None = None
) -> str:
    """The Hive catalog only when a metastore is configured: without one, Spark's Hive
    support would start a private Derby metastore in the working directory, which no other
    program sees; Spark's in-memory catalog says honestly that tables do not outlive the run."""
    pairs: list[tuple[str, str]] = []
    if settings.spark_metastore_uri:
        pairs += [
            ("spark.sql.catalogImplementation", "hive"),
            ("spark.hadoop.hive.metastore.uris", settings.spark_metastore_uri),
        ]
        if settings.spark_metastore_tls:
            pairs += [
                ("spark.hadoop.hive.metastore.use.SSL", "true"),
                ("spark.hadoop.hive.metastore.truststore.path", _path(ctx, "truststore.p12")),
                ("spark.hadoop.hive.metastore.truststore.password", ctx.truststore_password),
            ]
        if settings.hive_warehouse:
            pairs.append(("spark.sql.warehouse.dir", settings.hive_warehouse))
        pairs.append(("spark.sql.catalog.spark_catalog.defaultDatabase", ctx.project))
    else:
        pairs.append(("spark.sql.catalogImplementation", "in-memory"))
    pairs += sorted((spark_extra or {}).items())
    header = [
        f"Spark configuration of {ctx.identity} (project {ctx.project}):",
        "SPARK_CONF_DIR=<this directory>, or spark-submit --properties-file <this file>.",
    ]
    if not settings.spark_metastore_uri:
        header.append("No Hive metastore is configured: tables live as long as the Spark session.")
    return _properties(header, pairs, separator=" ")


def hive_properties(settings: Settings, ctx: ClientContext) -> str:
    header = [f"Hive (HiveServer2) access of {ctx.identity} (project {ctx.project})."]
    if settings.hive_backend != "hiveserver2" or not settings.hive_host:
        return _properties(
            [
                *header,
                "The platform runs the embedded Hive backend: it keeps the project's database",
                "directory and grants but runs no SQL server, so there is nothing to connect to.",
            ],
            [("hive.database", ctx.project)],
        )
    return _properties(
        header,
        [
            ("hive.jdbc.url", _jdbc_url(settings, ctx)),
            ("hive.host", settings.hive_host),
            ("hive.port", str(settings.hive_port)),
            ("hive.database", ctx.project),
            ("hive.user", ctx.identity),
        ],
    )


def _jdbc_url(settings: Settings, ctx: ClientContext) -> str:
    """HiveServer2's JDBC URL; over TLS, with the member's truststore (Hive's JDBC driver
    takes `ssl`, `sslTrustStore` and `trustStorePassword` as URL parameters)."""
    url = f"jdbc:hive2://{settings.hive_host}:{settings.hive_port}/{ctx.project}"
    if settings.hive_tls_ca is None:
        return url
    truststore = _path(ctx, "truststore.p12")
    return f"{url};ssl=true;sslTrustStore={truststore};trustStorePassword={ctx.truststore_password}"


def storage_properties(settings: Settings, ctx: ClientContext) -> str:
    header = [f"Where the datasets of project {ctx.project} are, for {ctx.identity}."]
    pairs = [("storage.backend", settings.storage_backend)]
    if ctx.datasets_dir is not None:
        pairs.append(("datasets.dir", ctx.datasets_dir))
    if settings.storage_backend == "webhdfs" and settings.webhdfs_url:
        url = settings.webhdfs_url.rstrip("/")
        scheme = "swebhdfs" if urlsplit(url).scheme == "https" else "webhdfs"
        # the layout of `backends.storage.webhdfs`: <root>/Projects/<project>/<dataset>
        project_path = f"/Projects/{ctx.project}"
        pairs += [
            ("webhdfs.url", url),
            ("project.path", project_path),
            ("project.uri", f"{scheme}://{urlsplit(url).netloc}{project_path}"),
            ("hdfs.user", ctx.identity),
        ]
    return _properties(header, pairs)


def client_configs(
    settings: Settings, ctx: ClientContext, *, spark_extra: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """File name -> content, to be written next to the credentials they name."""
    return {
        KAFKA: kafka_properties(settings, ctx).encode(),
        SPARK_DEFAULTS: spark_defaults(settings, ctx, spark_extra).encode(),
        HIVE: hive_properties(settings, ctx).encode(),
        STORAGE: storage_properties(settings, ctx).encode(),
    }
