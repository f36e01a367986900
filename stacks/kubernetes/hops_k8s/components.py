"""The stack's `pulumi.ComponentResource`s, one per platform component.

Each takes the manifests its pure module built (already validated, see `program`) and
creates them as children (`parent=self`): configuration objects first, then the workloads
that mount them, so a pod never starts before its ConfigMap or Secret exists. Inputs are the
validated `StackConfig` and plain manifests, not `pulumi.Input`s: every value comes from
configuration and is known before anything is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from hops_k8s import resources
from hops_k8s.objects import Manifest
from hops_k8s.objects.helm import HelmRelease

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "InferenceService"})
TYPE_PREFIX = "hops:kubernetes"


class ManifestComponent(pulumi.ComponentResource):
    """Creates a list of manifests (and Helm releases) as children."""

    resources: dict[str, pulumi.CustomResource]

    def __init__(
        self,
        type_name: str,
        name: str,
        manifests: Sequence[Manifest],
        opts: pulumi.ResourceOptions | None = None,
        releases: Sequence[HelmRelease] = (),
    ) -> None:
        super().__init__(f"{TYPE_PREFIX}:{type_name}", name, None, opts)
        self.resources = {}
        self.releases: dict[str, pulumi.CustomResource] = {}
        for release in releases:
            after = [self.releases[n] for n in release.depends_on]
            self.releases[release.name] = resources.helm_release(
                release, pulumi.ResourceOptions(parent=self, depends_on=after)
            )
        first = [m for m in manifests if m["kind"] not in WORKLOAD_KINDS]
        workloads = [m for m in manifests if m["kind"] in WORKLOAD_KINDS]
        for manifest in first:
            self._create(manifest, list(self.releases.values()))
        prerequisites = [*self.releases.values(), *self.resources.values()]
        for manifest in workloads:
            self._create(manifest, prerequisites)

    def _create(self, manifest: Manifest, depends_on: list[pulumi.Resource]) -> None:
        key = f"{manifest['kind']}/{resources.resource_name(manifest)}"
        self.resources[key] = resources.create(
            manifest, pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        )

    def finish(self, **outputs: Any) -> None:
        for key, value in outputs.items():
            setattr(self, key, value)
        self.register_outputs(outputs)


class Namespaces(ManifestComponent):
    names: list[str]

    def __init__(self, name: str, manifests: Sequence[Manifest], opts=None) -> None:
        super().__init__("Namespaces", name, manifests, opts)
        self.finish(names=[m["metadata"]["name"] for m in manifests])


class Pki(ManifestComponent):
    secret_names: list[str]

    def __init__(self, name: str, manifests: Sequence[Manifest], opts=None) -> None:
        super().__init__("Pki", name, manifests, opts)
        self.finish(secret_names=[m["metadata"]["name"] for m in manifests])


class MetadataDb(ManifestComponent):
    host: str

    def __init__(self, name: str, manifests: Sequence[Manifest], host: str, opts=None) -> None:
        super().__init__("MetadataDb", name, manifests, opts)
        self.finish(host=host)


class Kafka(ManifestComponent):
    bootstrap_servers: str

    def __init__(
        self, name: str, manifests: Sequence[Manifest], bootstrap_servers: str, opts=None
    ) -> None:
        super().__init__("Kafka", name, manifests, opts)
        self.finish(bootstrap_servers=bootstrap_servers)


class HiveMetastore(ManifestComponent):
    uri: str

    def __init__(self, name: str, manifests: Sequence[Manifest], uri: str, opts=None) -> None:
        super().__init__("HiveMetastore", name, manifests, opts)
        self.finish(uri=uri)


class SparkOperator(ManifestComponent):
    chart_version: str
    job_namespace: str

    def __init__(self, name: str, release: HelmRelease, opts=None) -> None:
        super().__init__("SparkOperator", name, [], opts, releases=[release])
        self.finish(
            chart_version=release.version, job_namespace=release.values["spark"]["jobNamespaces"][0]
        )


class KServe(ManifestComponent):
    chart_version: str | None

    def __init__(
        self,
        name: str,
        releases: Sequence[HelmRelease],
        manifests: Sequence[Manifest],
        opts=None,
    ) -> None:
        super().__init__("KServe", name, manifests, opts, releases=releases)
        self.finish(chart_version=releases[0].version if releases else None)


class NvidiaDevicePlugin(ManifestComponent):
    enabled: bool

    def __init__(self, name: str, manifests: Sequence[Manifest], opts=None) -> None:
        super().__init__("NvidiaDevicePlugin", name, manifests, opts)
        self.finish(enabled=bool(manifests))


class HopsworksApi(ManifestComponent):
    url: str
    database_url: pulumi.Output[str]  # secret

    def __init__(
        self,
        name: str,
        manifests: Sequence[Manifest],
        url: str,
        database_url: str,
        opts=None,
    ) -> None:
        super().__init__("HopsworksApi", name, manifests, opts)
        self.finish(url=url, database_url=pulumi.Output.secret(database_url))


class NetworkPolicies(ManifestComponent):
    names: list[str]

    def __init__(self, name: str, manifests: Sequence[Manifest], opts=None) -> None:
        super().__init__("NetworkPolicies", name, manifests, opts)
        self.finish(names=[m["metadata"]["name"] for m in manifests])
