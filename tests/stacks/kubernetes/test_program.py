"""The Pulumi program under Pulumi's mocks: what it registers, as the engine would see it."""

from __future__ import annotations

import json
import runpy
from collections import Counter

import pulumi
import pytest

from hops_k8s import meta
from hops_k8s.config import ConfigError
from hops_k8s.resources import TYPED
from hops_k8s.validation import CRD_SCHEMAS, validate_manifest
from tests.stacks.kubernetes.conftest import STACK_DIR
from tests.stacks.kubernetes.support import (
    PASSWORDS,
    SECRET_KEYS,
    Pki,
    Recorder,
    Run,
    base_config,
    run_program,
)

EXPECTED = {
    "kubernetes:core/v1:Namespace": 5,  # hops, spark-operator, hops-spark, kserve, hops-smoke
    "kubernetes:core/v1:Secret": 7,  # ca, tls, db credentials, kafka keystore, hive db, api, ca seed
    "kubernetes:core/v1:ConfigMap": 4,  # db, kafka, hive, api
    "kubernetes:core/v1:Service": 5,  # db (headless), kafka headless + bootstrap, hive, api
    "kubernetes:core/v1:ServiceAccount": 1,
    "kubernetes:core/v1:PersistentVolumeClaim": 1,
    "kubernetes:apps/v1:StatefulSet": 2,  # db, kafka
    "kubernetes:apps/v1:Deployment": 2,  # hive, api
    "kubernetes:apps/v1:DaemonSet": 1,  # nvidia
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": 9,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 3,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": 1,
    "kubernetes:helm.sh/v3:Release": 4,  # spark-operator, kserve-crd, -resources, -runtime-configs
}
COMPONENTS = {
    "hops:kubernetes:Namespaces",
    "hops:kubernetes:Pki",
    "hops:kubernetes:MetadataDb",
    "hops:kubernetes:Kafka",
    "hops:kubernetes:HiveMetastore",
    "hops:kubernetes:HopsworksApi",
    "hops:kubernetes:NetworkPolicies",
    "hops:kubernetes:NvidiaDevicePlugin",
    "hops:kubernetes:SparkOperator",
    "hops:kubernetes:KServe",
}


def test_objects_and_counts_per_kind(deployed: Run) -> None:
    custom = Counter(r.type for r in deployed.recorder.custom())
    assert dict(custom) == EXPECTED
    assert {r.type for r in deployed.recorder.resources if not r.custom} == COMPONENTS


def test_every_registered_object_is_valid_against_its_schema(deployed: Run) -> None:
    """Each registered Kubernetes object, with the inputs the provider would send, passes the
    official schema of its kind (strict) or its CRD's; any other type fails this test unless
    it is a Helm release (checked below) or a component."""
    checked = Counter()
    for resource in deployed.recorder.custom():
        if resource.type == "kubernetes:helm.sh/v3:Release":
            continue
        obj = resource.plain
        key = (obj["apiVersion"], obj["kind"])
        assert key in TYPED or key in CRD_SCHEMAS, f"{resource.type} has no schema to check"
        checked[validate_manifest(obj, "1.30")] += 1
    assert checked == {"kubernetes 1.30": 41, "crd inferenceservice-v1beta1.json": 1}


def test_helm_releases_are_pinned(deployed: Run) -> None:
    releases = {r.name: r.plain for r in deployed.recorder.of_kind("Release")}
    spark = releases["spark-operator"]
    assert spark["chart"] == "spark-operator" and spark["version"] == "2.5.1"
    assert spark["repositoryOpts"] == {"repo": "https://kubeflow.github.io/spark-operator"}
    assert spark["namespace"] == "spark-operator"
    assert spark["values"]["spark"]["jobNamespaces"] == ["hops-spark"]
    for name in ("kserve-crd", "kserve-resources", "kserve-runtime-configs"):
        assert releases[name]["chart"] == f"oci://ghcr.io/kserve/charts/{name}"
        assert releases[name]["version"] == "v0.20.0"
        assert releases[name]["namespace"] == "kserve"
    assert releases["kserve-resources"]["values"] == {
        "kserve": {"controller": {"deploymentMode": "Standard"}}
    }
    assert all(r["atomic"] and not r["createNamespace"] for r in releases.values())


def test_the_api_deployment_as_registered(deployed: Run) -> None:
    obj = deployed.recorder.one("Deployment", meta.API).plain
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/api/health",
        "port": "https",
        "scheme": "HTTPS",
    }
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert {v["name"] for v in obj["spec"]["template"]["spec"]["volumes"]} == {
        "data",
        "pki",
        "tls",
        "tmp",
        "ca-seed",
    }
    assert container["env"] == [
        {"name": "SSL_CERT_FILE", "value": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}
    ]
    config = deployed.recorder.one("ConfigMap", "hops-api-config").plain["data"]
    assert json.loads(config["HOPS_TLS_HOSTNAMES"])[-1] == "hops.example.org"
    assert config["HOPS_KAFKA_BACKEND"] == "cluster"
    assert config["HOPS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    (tls,) = [v for v in obj["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
    assert tls["secret"]["secretName"] == "hops-tls"
    modes = {i["path"]: i["mode"] for i in tls["secret"]["items"]}
    assert modes == {"tls.crt": 0o444, "tls.key": 0o400}
    service = deployed.recorder.one("Service", meta.API).plain
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 8181, "targetPort": "https", "protocol": "TCP"}
    ]
    pvc = deployed.recorder.one("PersistentVolumeClaim", "hops-api-data").plain
    assert pvc["spec"]["storageClassName"] == "fast-ssd"


def test_the_nvidia_plugin_as_registered(deployed: Run) -> None:
    spec = deployed.recorder.one("DaemonSet", meta.NVIDIA_DEVICE_PLUGIN).plain["spec"]["template"][
        "spec"
    ]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]


def test_network_policies_as_registered(deployed: Run) -> None:
    names = {r.plain["metadata"]["name"] for r in deployed.recorder.of_kind("NetworkPolicy")}
    assert "default-deny" in names and "allow-dns-egress" in names
    ingress = deployed.recorder.one("NetworkPolicy", "hops-api-ingress").plain["spec"]["ingress"]
    assert ingress == [
        {
            "ports": [{"protocol": "TCP", "port": 8181}],
            "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
        }
    ]


def test_every_secret_is_registered_as_a_secret(deployed: Run) -> None:
    secrets = deployed.recorder.of_kind("Secret")
    assert len(secrets) == 7
    for resource in secrets:
        fields = [f for f in ("data", "stringData") if f in resource.inputs]
        assert fields, resource.name
        for field in fields:
            value = resource.inputs[field]
            assert pulumi.runtime.rpc.is_rpc_secret(value), f"{resource.name}.{field} is not secret"


def test_no_secret_value_appears_outside_secrets(deployed: Run, pki: Pki) -> None:
    secrets = [*PASSWORDS.values(), pki.key.strip(), pki.archive_b64, "ca-passphrase-1"]
    for resource in deployed.recorder.resources:
        if resource.type == "kubernetes:core/v1:Secret":
            continue
        text = json.dumps(resource.plain)
        for secret in secrets:
            assert secret not in text, f"a secret in {resource.type} {resource.name}"


def test_outputs_and_secret_outputs(deployed: Run) -> None:
    out = deployed.outputs
    assert out["apiUrl"] == "https://hops-api.hops.svc.cluster.local:8181/api"
    assert out["kafkaBootstrapServers"] == "hops-kafka.hops.svc.cluster.local:9093"
    assert out["hiveMetastoreUri"] == "thrift://hops-hive-metastore.hops.svc.cluster.local:9083"
    assert out["tlsDnsNames"][0] == "hops-metadata-db.hops.svc.cluster.local"
    assert PASSWORDS["dbApiPassword"].replace(":", "%3A")[:4] in out["apiDatabaseUrl"]
    # The outputs that hold a secret are secret, and only those.
    assert deployed.secret_outputs == {"apiDatabaseUrl"}


def test_children_belong_to_their_components(deployed: Run) -> None:
    """Every Kubernetes object and release is created inside a component (parent=self),
    never at the stack's top level: its URN's type chain starts with the component's type."""
    custom = {r.type for r in deployed.recorder.custom()}
    urns = [u for u in deployed.urns if u.split("::")[2].split("$")[-1] in custom]
    assert len(urns) == sum(EXPECTED.values())
    for urn in urns:
        chain = urn.split("::")[2].split("$")
        assert len(chain) == 2 and chain[0] in COMPONENTS, urn
    kafka = [u for u in urns if "hops:kubernetes:Kafka$" in u]
    assert len(kafka) == 5  # config, keystore, two services, the StatefulSet


# -- bad configuration: nothing is created ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("namespace", "Hops_Platform", "is not a DNS-1123 label"),
        ("apiReplicas", "0", "must be at least 1"),
        ("dbStorageSize", "twenty", "is not a Kubernetes quantity"),
        ("apiImage", "not an image", "is not an image reference"),
        ("gpuNodeSelector", "{oops", "is not valid JSON"),
        ("kubernetesVersion", "1.12", "unknown Kubernetes version"),
        ("namespcae", "hops", "unknown key"),  # a typo in `pulumi config set`
    ],
)
def test_bad_config_fails_before_any_resource_is_registered(
    pki: Pki, key: str, value: str, message: str
) -> None:
    raw = base_config(pki, **{key: value})
    recorder = Recorder()
    with pytest.raises(ConfigError, match=f"hops-kubernetes:{key}: .*{message}") as caught:
        run_program(raw, recorder=recorder)
    assert caught.value.key == key
    assert recorder.resources == []


def test_a_missing_secret_fails_naming_the_key(pki: Pki) -> None:
    raw = base_config(pki)
    del raw["jwtSecret"]
    with pytest.raises(
        ConfigError,
        match="hops-kubernetes:jwtSecret: missing; set it with `pulumi config set --secret",
    ):
        run_program(raw)


def test_an_invalid_manifest_fails_before_any_resource_is_registered(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hops_k8s.objects import kafka
    from hops_k8s.validation import ManifestError

    original = kafka.stateful_set

    def broken(cfg):
        obj = original(cfg)
        obj["spec"]["replica"] = 3  # a typo the API server would drop silently
        return obj

    monkeypatch.setattr(kafka, "stateful_set", broken)
    recorder = Recorder()
    with pytest.raises(
        ManifestError, match=r"StatefulSet hops/hops-kafka .*'replica' was unexpected"
    ):
        run_program(base_config(pki), recorder=recorder)
    assert recorder.resources == []


def test_a_good_config_registers_resources_through_the_same_recorder(pki: Pki) -> None:
    """The two tests above would pass vacuously if the recorder saw nothing at all."""
    recorder = Recorder()
    run_program(base_config(pki), recorder=recorder)
    assert len(recorder.custom()) == sum(EXPECTED.values()) - 2


def test_the_main_module_reads_config_and_exports(pki: Pki) -> None:
    """__main__.py as `pulumi up` runs it: the same resources, and the stack's outputs."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="hops-kubernetes", stack="dev", preview=False)
    raw = base_config(pki)
    pulumi.runtime.set_all_config(
        {f"hops-kubernetes:{k}": v for k, v in raw.items()},
        secret_keys=[f"hops-kubernetes:{k}" for k in raw if k in SECRET_KEYS],
    )

    @pulumi.runtime.test
    def main() -> None:
        runpy.run_path(str(STACK_DIR / "__main__.py"), run_name="__main__")

    main()
    assert len(recorder.custom()) == sum(EXPECTED.values()) - 2  # no smoke namespace, no isvc
    stack = pulumi.runtime.settings.get_root_resource()
    assert "apiDatabaseUrl" in stack.outputs and "tlsDnsNames" in stack.outputs
