"""The Hopsworks-style platform on an existing Kubernetes cluster, as a Pulumi program.

Layout (data flows one way: config -> objects -> validation -> components):

- `config`      the stack configuration: one frozen dataclass parsed from raw strings.
- `objects/`    one pure module per component building plain manifests (dicts).
- `validation`  every manifest checked against the official Kubernetes schemas (strict) or,
                for custom resources, against the CRD's own schema (`crd_schema`).
- `resources`   a manifest becomes a pulumi_kubernetes resource; Secret data secret.
- `components`  the `pulumi.ComponentResource`s; `program.deploy` wires them together.
- `policies`    pulumi-policy rules (the pack itself lives in ../policy/).
"""
