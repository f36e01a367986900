"""Turn a CRD's YAML into the JSON Schema the stack validates custom resources with.

    python scripts/extract_crd_schema.py CRD.yaml --version v1beta1 \
        --source "kserve/kserve v0.20.0 config/crd/full/serving.kserve.io_inferenceservices.yaml" \
        --out hops_k8s/schemas/inferenceservice-v1beta1.json

How the bundled InferenceService schema was made (from a clone of github.com/kserve/kserve):

    git show v0.20.0:config/crd/full/serving.kserve.io_inferenceservices.yaml > /tmp/isvc.yaml
    python scripts/extract_crd_schema.py /tmp/isvc.yaml --version v1beta1 --source ... --out ...

Use the `full` CRD: the `minimal` one (charts/kserve-crd-minimal) preserves unknown fields
everywhere and so accepts anything. Regenerate when `kserveVersion` changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hops_k8s.crd_schema import crd_version_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path, help="the CRD's YAML file (one document)")
    parser.add_argument("--version", required=True, help="the served version, e.g. v1beta1")
    parser.add_argument("--source", required=True, help="where the CRD came from (recorded)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Schema file to write")
    args = parser.parse_args(argv)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: 2 MB in a second
    documents = [d for d in yaml.load_all(args.crd.read_text(), Loader=loader) if d]
    if len(documents) != 1:
        parser.error(f"{args.crd} holds {len(documents)} documents, not one CRD")
    schema = crd_version_schema(documents[0], args.version)
    schema = {"x-hops-source": args.source, **schema}
    args.out.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {schema['title']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
