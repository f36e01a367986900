"""Every manifest the stack creates is valid, or the deployment stops before it starts.

Built-in kinds are validated with kubernetes-validate's strict schemas (the official
OpenAPI schemas of the chosen Kubernetes version; an unknown field is an error). Custom
resources are validated with the JSON Schema converted from their CRD (`crd_schema`), and
their metadata as ObjectMeta. A kind known to neither is an error, never a warning.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils

from hops_k8s import meta as _m

# kubernetes-validate re-reads its multi-MB definitions file on every call; validation only
# reads the parsed schemas, so keeping them parsed is safe (the control service does the same).
if not hasattr(kv_utils.schema_contents, "cache_info"):
    kv_utils.schema_contents = functools.lru_cache(maxsize=256)(kv_utils.schema_contents)

# (apiVersion, kind) of custom resources -> the JSON Schema file under hops_k8s/schemas/.
CRD_SCHEMAS: Mapping[tuple[str, str], str] = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice-v1beta1.json",
}


class ManifestError(ValueError):
    """A manifest the API server would refuse."""


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    filename = CRD_SCHEMAS[(api_version, kind)]
    text = resources.files("hops_k8s").joinpath("schemas", filename).read_text()
    schema = json.loads(text)
    # Not check_schema'd here (7 s for this size); the tests check the files once.
    return jsonschema.validators.validator_for(schema)(schema)


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def _path(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(object)"


# Kinds whose names follow other rules than a DNS-1123 subdomain (ValidateObjectMeta's
# name functions in k8s.io/kubernetes/pkg/apis/*/validation).
_LABEL_NAMED = {"Namespace"}
_DNS_1035_NAMED = {"Service"}
_PATH_SEGMENT_NAMED = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def check_object_meta(obj: Mapping[str, Any]) -> None:
    """The API server's own checks of names, namespaces, labels and annotations, which are
    not in the OpenAPI schemas."""
    meta = obj.get("metadata") or {}
    kind, name = obj.get("kind"), meta.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{_name(obj)}: metadata.name is required")
    if kind in _PATH_SEGMENT_NAMED:
        ok = name not in (".", "..") and "/" not in name and "%" not in name
        rule = "a path segment"
    elif kind in _LABEL_NAMED:
        ok, rule = len(name) <= 63 and bool(_m.DNS_LABEL_RE.fullmatch(name)), "a DNS-1123 label"
    elif kind in _DNS_1035_NAMED:
        ok, rule = (
            len(name) <= 63 and bool(_m.DNS_1035_LABEL_RE.fullmatch(name)),
            "a DNS-1035 label",
        )
    else:
        ok, rule = (
            len(name) <= 253 and bool(_m.DNS_SUBDOMAIN_RE.fullmatch(name)),
            "a DNS-1123 subdomain",
        )
    if not ok:
        raise ManifestError(f"{_name(obj)}: name '{name}' is not {rule}")
    namespace = meta.get("namespace")
    if namespace is not None and not (
        len(namespace) <= 63 and _m.DNS_LABEL_RE.fullmatch(namespace)
    ):
        raise ManifestError(f"{_name(obj)}: namespace '{namespace}' is not a DNS-1123 label")
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            match = _m.LABEL_KEY_RE.fullmatch(key)
            if not match or len(match.group("prefix") or "") > 253:
                raise ManifestError(f"{_name(obj)}: {field[:-1]} key '{key}' is not valid")
            if field == "labels" and not (len(value) <= 63 and _m.LABEL_VALUE_RE.fullmatch(value)):
                raise ManifestError(f"{_name(obj)}: label value '{value}' of '{key}' is not valid")


def validate_manifest(obj: Mapping[str, Any], kube_version: str) -> str:
    """Raise ManifestError unless the API server of `kube_version` would accept `obj`;
    returns what it was checked against ("kubernetes 1.30" or "crd ...")."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    check_object_meta(obj)
    if key in CRD_SCHEMAS:
        errors = sorted(crd_validator(*key).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            raise ManifestError(
                f"{_name(obj)} does not match the {key[1]} CRD schema: "
                f"{_path(first.absolute_path)}: {first.message}"
            )
        # ObjectMeta, checked by the same official schema as any built-in object's.
        validate_manifest(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata")},
            kube_version,
        )
        return f"crd {CRD_SCHEMAS[key]}"
    try:
        version = kubernetes_validate.validate(dict(obj), kube_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise ManifestError(
            f"{_name(obj)} is not valid for Kubernetes {exc.version}: "
            f"{_path(exc.path)}: {exc.message}"
        ) from exc
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise ManifestError(f"no schema for {_name(obj)}: {exc.message}") from exc
    return f"kubernetes {version}"


def validate_all(objs: Iterable[Mapping[str, Any]], kube_version: str) -> dict[str, int]:
    """Validate every manifest; returns how many were checked against what."""
    counts: dict[str, int] = {}
    for obj in objs:
        against = validate_manifest(obj, kube_version)
        counts[against] = counts.get(against, 0) + 1
    return counts
