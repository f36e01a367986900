"""The role matrix of api.md, transcribed independently of authz.ROLE_MATRIX and
checked for every action x {data owner, data scientist, non-member, platform admin}."""

from __future__ import annotations

import pytest

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess, Role
from hopsworks_api.errors import Forbidden, NotFound

Y, N = True, False
# action: (data scientist, data owner, platform admin who is not a member)
EXPECTED = {
    Action.VIEW_PROJECT: (Y, Y, Y),
    Action.LIST_FILES: (Y, Y, N),
    Action.RUN_JOBS: (Y, Y, N),
    Action.STOP_OTHERS_WORK: (N, Y, N),
    Action.UPLOAD_RESTRICTED: (Y, Y, N),
    Action.UPLOAD: (N, Y, N),
    Action.DOWNLOAD: (N, Y, N),
    Action.MANAGE_DATASETS: (N, Y, N),
    Action.SHARE: (N, Y, N),
    Action.MANAGE_MEMBERS: (N, Y, Y),
    Action.LEAVE_PROJECT: (Y, Y, N),
    Action.DELETE_PROJECT: (N, Y, Y),
    Action.SET_QUOTAS: (N, N, Y),
    Action.MANAGE_ENVIRONMENTS: (N, Y, N),
    Action.REGISTER_MODELS: (Y, Y, N),
    Action.DELETE_MODEL_VERSIONS: (N, Y, N),
    Action.SERVE_MODELS: (Y, Y, N),
}


def access(role: Role | None, *, admin: bool = False) -> ProjectAccess:
    return ProjectAccess(1, "demo", 7, "u@example.org", "u", role, admin)


def test_every_action_is_in_the_expected_table():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("actor", ["data_scientist", "data_owner", "admin", "non_member"])
def test_role_matrix(action: Action, actor: str):
    scientist, owner, admin = EXPECTED[action]
    who, expected = {
        "data_scientist": (access(Role.DATA_SCIENTIST), scientist),
        "data_owner": (access(Role.DATA_OWNER), owner),
        "admin": (access(None, admin=True), admin),
        "non_member": (access(None), False),
    }[actor]
    assert authz.allowed(who, action) is expected
    if expected:
        authz.require(who, action)
    elif actor == "non_member":
        with pytest.raises(NotFound):
            authz.require(who, action)
    else:
        with pytest.raises(Forbidden):
            authz.require(who, action)


def test_a_member_who_is_also_admin_has_both_sets_of_rights():
    both = access(Role.DATA_SCIENTIST, admin=True)
    assert authz.allowed(both, Action.UPLOAD_RESTRICTED)
    assert authz.allowed(both, Action.SET_QUOTAS)
    assert not authz.allowed(both, Action.DOWNLOAD)


def test_owner_is_a_superset_of_scientist():
    for action in Action:
        if authz.allowed(access(Role.DATA_SCIENTIST), action):
            assert authz.allowed(access(Role.DATA_OWNER), action), action


@pytest.mark.parametrize(
    ("dataset", "shared", "expected"),
    [
        ("Resources", False, Action.UPLOAD_RESTRICTED),
        ("Jupyter", False, Action.UPLOAD_RESTRICTED),
        ("Logs", False, Action.UPLOAD),
        ("Models", False, Action.UPLOAD_RESTRICTED),
        ("Resources", True, Action.UPLOAD),
    ],
)
def test_write_action_depends_on_dataset(dataset: str, shared: bool, expected: Action):
    assert authz.write_action(dataset, shared=shared) is expected
