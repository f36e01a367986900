"""A CustomResourceDefinition's OpenAPI v3 schema as a JSON Schema (draft 2020-12), with the
API server's semantics, so custom resources are checked as strictly as built-in kinds.

What the API server does with a CRD's `openAPIV3Schema`, and what the conversion does:

- `nullable: true`: null is a valid value -> `"null"` joins the type (and the enum).
- `x-kubernetes-int-or-string: true`: an integer or a string -> `anyOf` of both.
- Pruning: CRDs of apiextensions.k8s.io/v1 are always structural and pruned (a v1beta1 CRD
  only with `preserveUnknownFields: false`): a field its schema does not name is dropped,
  which strict field validation (`kubectl --validate=strict`, as kubernetes-validate's
  strict mode for built-in kinds) reports as an error. So every object schema gets
  `additionalProperties: false`, unless it declares `additionalProperties` (a map) or
  `x-kubernetes-preserve-unknown-fields: true`. An object schema without properties
  therefore accepts only `{}`, as the server would keep nothing of it.
- `x-kubernetes-embedded-resource: true`: apiVersion, kind and metadata are allowed.
- The root's `metadata` is the API server's ObjectMeta, not the CRD's to describe: it is left
  open here and checked as ObjectMeta by `hops_k8s.validation`.
- Not enforced, and recorded in the result's `$comment`: CEL rules
  (`x-kubernetes-validations`) and the uniqueness of keys in `x-kubernetes-list-type: map`
  and `set` lists. `x-kubernetes-map-type` and list types only steer server-side apply.
- `description` and `example` are dropped (no effect on validity; the file stays small).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_COMBINATORS = ("allOf", "anyOf", "oneOf")
_DROPPED = {"description", "example", "externalDocs"}


class CrdSchemaError(ValueError):
    """The CRD cannot be converted (no such version, no schema)."""


def _convert(node: Any, prune: bool, notes: set[str], path: str) -> Any:
    if not isinstance(node, Mapping):
        raise CrdSchemaError(f"{path}: a schema must be an object")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key == "nullable":
            continue
        if key.startswith("x-kubernetes-"):
            if key == "x-kubernetes-validations":
                notes.add("CEL rules (x-kubernetes-validations) are not evaluated")
            elif key == "x-kubernetes-list-type" and value in ("map", "set"):
                notes.add(f"uniqueness in x-kubernetes-list-type {value} lists is not checked")
            continue
        if key == "properties":
            out[key] = {
                name: _convert(sub, prune, notes, f"{path}.{name}") for name, sub in value.items()
            }
        elif key in ("items", "not") or (
            key == "additionalProperties" and isinstance(value, Mapping)
        ):
            out[key] = _convert(value, prune, notes, f"{path}[{key}]")
        elif key in _COMBINATORS:
            out[key] = [_convert(sub, prune, notes, f"{path}[{key}]") for sub in value]
        else:
            out[key] = copy.deepcopy(value)

    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    is_object = out.get("type") == "object" or (
        isinstance(out.get("type"), list) and "object" in out["type"]
    )
    if prune and is_object and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def crd_version_schema(crd: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The JSON Schema of one served version of a CRD (a parsed YAML document)."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise CrdSchemaError(f"not a CustomResourceDefinition but a {crd.get('kind')}")
    api_version = crd.get("apiVersion")
    spec = crd.get("spec") or {}
    if api_version == "apiextensions.k8s.io/v1":
        prune = True
    elif api_version == "apiextensions.k8s.io/v1beta1":
        prune = spec.get("preserveUnknownFields") is False
    else:
        raise CrdSchemaError(f"unknown CRD apiVersion {api_version}")
    versions = {v.get("name"): v for v in spec.get("versions") or []}
    if version not in versions:
        raise CrdSchemaError(
            f"{spec.get('names', {}).get('kind')} has no version {version} "
            f"(has {', '.join(map(str, versions)) or 'none'})"
        )
    schema = (versions[version].get("schema") or spec.get("validation") or {}).get(
        "openAPIV3Schema"
    )
    if not isinstance(schema, Mapping):
        raise CrdSchemaError(f"version {version} has no openAPIV3Schema")

    notes: set[str] = set()
    converted = _convert(schema, prune, notes, "$")
    group, kind = spec.get("group"), spec.get("names", {}).get("kind")
    props = converted.setdefault("properties", {})
    props["apiVersion"] = {"const": f"{group}/{version}"}
    props["kind"] = {"const": kind}
    # ObjectMeta: checked by the API server's own rules (hops_k8s.validation), not here.
    props["metadata"] = {"type": "object"}
    converted["required"] = sorted(
        {*converted.get("required", []), "apiVersion", "kind", "metadata"}
    )
    converted["type"] = "object"
    head = {
        "$schema": DIALECT,
        "title": f"{kind} {group}/{version}",
        "x-hops-crd": {"name": crd.get("metadata", {}).get("name"), "pruned": prune},
    }
    if notes:
        head["$comment"] = "Not enforced: " + "; ".join(sorted(notes)) + "."
    return {**head, **converted}
