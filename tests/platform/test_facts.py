"""The platform facts themselves (hops_platform): what each one must be for its users."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from hops_platform import host_groups, project_roles, quantity
from hopsworks_api.identity import Role

PACKAGE = Path(project_roles.__file__).parent


def test_quantities_compare_by_value() -> None:
    parse = quantity.parse_quantity
    assert parse("1Gi") == parse("1024Mi") == 2**30
    assert parse("0.5") == parse("500m") == parse(".5")
    assert parse("1e3") == parse("1k") == parse("1E3")
    assert parse("8") == parse("8000m")


@pytest.mark.parametrize("text", ["1 Gi", " 1Gi", "-1", "+1", "1GB", "1.2.3", "", "Gi", "1gi"])
def test_what_is_not_a_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        quantity.parse_quantity(text)


def test_every_platform_role_has_a_cluster_role_with_rules() -> None:
    assert set(project_roles.CLUSTER_ROLES) == {role.value for role in Role}
    rules = project_roles.cluster_role_rules()
    assert set(rules) == set(project_roles.CLUSTER_ROLES.values())


def test_the_project_cluster_roles_are_valid_objects() -> None:
    import kubernetes_validate

    for name, rules in project_roles.cluster_role_rules().items():
        manifest = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        }
        kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_only_data_owners_read_secrets() -> None:
    def reads_secrets(rules: list[dict]) -> bool:
        return any("secrets" in r["resources"] and "get" in r["verbs"] for r in rules)

    rules = project_roles.cluster_role_rules()
    assert reads_secrets(rules[project_roles.CLUSTER_ROLES["data_owner"]])
    assert not reads_secrets(rules[project_roles.CLUSTER_ROLES["data_scientist"]])


def test_the_rules_handed_out_are_copies() -> None:
    first = project_roles.cluster_role_rules()
    next(iter(first.values()))[0]["verbs"].append("delete")
    assert project_roles.cluster_role_rules() != first


def test_the_example_inventory_uses_every_group_and_no_other() -> None:
    import yaml

    example = PACKAGE.parents[1] / "inventories" / "example" / "hosts.yml"
    children = yaml.safe_load(example.read_text())["all"]["children"]
    assert set(children) == set(host_groups.GROUPS)
    assert len(set(host_groups.GROUPS)) == len(host_groups.GROUPS)


def test_the_package_imports_only_the_standard_library() -> None:
    """The stacks install this directory on its own (stacks/*/requirements.txt)."""
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, (
                    f"{path.name} imports {name}"
                )
