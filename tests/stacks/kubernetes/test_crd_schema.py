"""The CRD -> JSON Schema converter, on a small hand-written CRD, and the bundled
InferenceService schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from hops_k8s.crd_schema import CrdSchemaError, crd_version_schema
from hops_k8s.objects import kserve
from hops_k8s.validation import CRD_SCHEMAS, ManifestError, validate_manifest
from tests.stacks.kubernetes.conftest import STACK_DIR

CRD = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.org}
spec:
  group: example.org
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          description: A widget.
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
                port:
                  x-kubernetes-int-or-string: true
                colour:
                  type: string
                  enum: [red, blue]
                  nullable: true
                note:
                  type: string
                  nullable: true
                labels:
                  type: object
                  additionalProperties: {type: string}
                raw:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                empty:
                  type: object
                parts:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: {type: string, description: dropped}
                embedded:
                  type: object
                  x-kubernetes-embedded-resource: true
                  properties:
                    spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""
)


def widget(**spec: object) -> dict:
    return {
        "apiVersion": "example.org/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default", "labels": {"a": "b"}},
        "spec": {"size": 3, **spec},
    }


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = crd_version_schema(CRD, "v1")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, obj: dict) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)
    ]


def test_a_valid_object_passes(validator) -> None:
    assert (
        errors(
            validator, widget(port="https", labels={"x": "y"}, raw={"any": {"thing": 1}}, empty={})
        )
        == []
    )


def test_int_or_string_accepts_both_and_nothing_else(validator) -> None:
    assert errors(validator, widget(size="3Gi", port=8080)) == []
    assert errors(validator, widget(size=[3])) != []
    assert errors(validator, widget(port=True)) != []


def test_nullable_fields_accept_null_and_enums_still_hold(validator) -> None:
    assert errors(validator, widget(colour=None, note=None)) == []
    assert errors(validator, widget(colour="green")) != []


def test_unknown_fields_are_errors_as_with_strict_field_validation(validator) -> None:
    assert any("'colour_typo'" in e for e in errors(validator, widget(colour_typo="red")))
    assert errors(validator, widget(parts=[{"name": "a", "extra": 1}])) != []
    # An object schema without properties keeps nothing: only {} is valid.
    assert errors(validator, widget(empty={"x": 1})) != []


def test_maps_and_preserved_subtrees_take_any_key(validator) -> None:
    assert (
        errors(validator, widget(labels={"any-key": "v"}, raw={"whatever": [1, {"x": None}]})) == []
    )
    assert errors(validator, widget(labels={"k": 1})) != []


def test_embedded_resources_may_carry_api_version_kind_and_metadata(validator) -> None:
    embedded = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    assert errors(validator, widget(embedded=embedded)) == []
    assert errors(validator, widget(embedded={**embedded, "status": {}})) != []


def test_required_fields_api_version_and_kind_are_enforced(validator) -> None:
    obj = widget()
    del obj["spec"]["size"]
    assert errors(validator, obj) != []
    assert errors(validator, {**widget(), "kind": "Gadget"}) != []
    assert errors(validator, {**widget(), "apiVersion": "example.org/v2"}) != []
    no_meta = widget()
    del no_meta["metadata"]
    assert errors(validator, no_meta) != []


def test_descriptions_and_kubernetes_extensions_are_dropped_and_gaps_recorded() -> None:
    schema = crd_version_schema(CRD, "v1")
    comment = schema.pop("$comment")
    text = json.dumps(schema)
    assert "x-kubernetes-" not in text and "description" not in text and "nullable" not in text
    assert "uniqueness in x-kubernetes-list-type map lists is not checked" in comment


def test_a_v1beta1_crd_that_preserves_unknown_fields_is_not_pruned() -> None:
    legacy = json.loads(json.dumps(CRD))
    legacy["apiVersion"] = "apiextensions.k8s.io/v1beta1"
    schema = crd_version_schema(legacy, "v1")
    assert errors(jsonschema.Draft202012Validator(schema), widget(colour_typo="red")) == []
    legacy["spec"]["preserveUnknownFields"] = False
    schema = crd_version_schema(legacy, "v1")
    assert errors(jsonschema.Draft202012Validator(schema), widget(colour_typo="red")) != []


def test_unknown_versions_and_non_crds_are_refused() -> None:
    with pytest.raises(CrdSchemaError, match="Widget has no version v2"):
        crd_version_schema(CRD, "v2")
    with pytest.raises(CrdSchemaError, match="not a CustomResourceDefinition"):
        crd_version_schema({"kind": "ConfigMap"}, "v1")


def test_the_extraction_script_writes_the_schema(tmp_path: Path) -> None:
    crd_file, out = tmp_path / "crd.yaml", tmp_path / "widget.json"
    crd_file.write_text(yaml.safe_dump(CRD))
    result = subprocess.run(
        [
            sys.executable,
            str(STACK_DIR / "scripts" / "extract_crd_schema.py"),
            str(crd_file),
            "--version",
            "v1",
            "--source",
            "a test",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Widget example.org/v1" in result.stdout
    written = json.loads(out.read_text())
    assert written["x-hops-source"] == "a test"
    assert {k: v for k, v in written.items() if k != "x-hops-source"} == crd_version_schema(
        CRD, "v1"
    )


# -- the bundled InferenceService schema (KServe v0.20.0's full CRD) -------------------------

SCHEMA_FILE = STACK_DIR / "hops_k8s" / "schemas" / "inferenceservice-v1beta1.json"


def test_the_bundled_schema_is_a_valid_json_schema_and_names_its_source() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # jsonschema's check takes 7 s here
    schema = json.loads(SCHEMA_FILE.read_text())
    assert jsonschema_rs.meta.is_valid(schema)
    assert schema["x-hops-source"].startswith("kserve/kserve v0.20.0")
    assert schema["x-hops-crd"] == {"name": "inferenceservices.serving.kserve.io", "pruned": True}
    assert set(CRD_SCHEMAS.values()) == {p.name for p in SCHEMA_FILE.parent.glob("*.json")}


def test_the_bundled_schema_matches_the_crd_when_a_kserve_clone_is_at_hand() -> None:
    """Regenerates the schema from the mirror's CRD (when the machine has one) and compares."""
    mirror = Path("/work/.mirror/kserve+kserve/repo")
    if not mirror.is_dir():
        pytest.skip("no clone of kserve/kserve on this machine")
    text = subprocess.run(
        [
            "git",
            f"--git-dir={mirror}",
            "show",
            "v0.20.0:config/crd/full/serving.kserve.io_inferenceservices.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bundled = json.loads(SCHEMA_FILE.read_text())
    bundled.pop("x-hops-source")
    crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd_version_schema(crd, "v1beta1") == bundled


def test_an_inference_service_validates_and_a_typo_does_not() -> None:
    isvc = kserve.inference_service(
        "iris",
        "hops-smoke",
        model_format="sklearn",
        storage_uri="gs://bucket/model",
        resources={"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}},
    )
    assert validate_manifest(isvc, "1.30") == "crd inferenceservice-v1beta1.json"
    typo = json.loads(json.dumps(isvc))
    typo["spec"]["predictor"]["model"]["storageURI"] = "gs://bucket/model"
    with pytest.raises(
        ManifestError,
        match=r"spec.predictor.model: Additional properties are not allowed \('storageURI'",
    ):
        validate_manifest(typo, "1.30")
    bad_port = json.loads(json.dumps(isvc))
    bad_port["spec"]["predictor"]["model"]["ports"] = [{"containerPort": "http"}]
    with pytest.raises(ManifestError, match="containerPort"):
        validate_manifest(bad_port, "1.30")


def test_an_inference_service_with_bad_metadata_is_refused() -> None:
    def isvc(name: str = "iris") -> dict:
        return kserve.inference_service(
            name, "hops-smoke", model_format="sklearn", storage_uri="gs://b/m", resources={}
        )

    typo = isvc()
    typo["metadata"]["lables"] = {}
    with pytest.raises(ManifestError, match="metadata: Additional properties are not allowed"):
        validate_manifest(typo, "1.30")
    with pytest.raises(ManifestError, match="'Iris_Model' is not a DNS-1123 subdomain"):
        validate_manifest(isvc("Iris_Model"), "1.30")
    bad_label = isvc()
    bad_label["metadata"]["labels"]["bad key!"] = "x"
    with pytest.raises(ManifestError, match="label key 'bad key!'"):
        validate_manifest(bad_label, "1.30")
