"""The role matrix, in one place. Every authorisation decision of the service is made here.

Rights are dynamic: they depend only on the caller's role in the project the request is
about (Data Owner or Data Scientist), never on a global role, with one exception, the
platform administrator, who administers projects (sees them, manages members, quotas and
deletion) but is not granted any access to the data inside them unless also a member.

Non-members get 404 so that a project's existence is not leaked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hopsworks_api.errors import Forbidden, NotFound
from hopsworks_api.identity import Role, project_user


class Action(StrEnum):
    VIEW_PROJECT = "view project, members, datasets, quotas, activity"
    LIST_FILES = "list directories"
    RUN_JOBS = "run jobs and notebooks"
    STOP_OTHERS_WORK = "stop executions or notebook servers of other members (list the servers)"
    UPLOAD_RESTRICTED = "upload into Resources, Jupyter or Models"
    UPLOAD = "upload into any other dataset"
    DOWNLOAD = "download files (export)"
    MANAGE_DATASETS = "create or delete datasets, edit metadata"
    SHARE = "share, accept or unshare datasets"
    MANAGE_MEMBERS = "add or remove members, change roles"
    LEAVE_PROJECT = "leave the project"
    DELETE_PROJECT = "delete the project"
    SET_QUOTAS = "change quotas"
    MANAGE_ENVIRONMENTS = "create, rebuild or delete Python environments"
    REGISTER_MODELS = "register model versions"
    DELETE_MODEL_VERSIONS = "delete a model version"
    SERVE_MODELS = "create, start, stop, delete servings and predict"


_BOTH = frozenset({Role.DATA_OWNER, Role.DATA_SCIENTIST})
_OWNER = frozenset({Role.DATA_OWNER})
_NOBODY: frozenset[Role] = frozenset()

ROLE_MATRIX: dict[Action, frozenset[Role]] = {
    Action.VIEW_PROJECT: _BOTH,
    Action.LIST_FILES: _BOTH,
    Action.RUN_JOBS: _BOTH,
    Action.STOP_OTHERS_WORK: _OWNER,
    Action.UPLOAD_RESTRICTED: _BOTH,
    Action.UPLOAD: _OWNER,
    Action.DOWNLOAD: _OWNER,
    Action.MANAGE_DATASETS: _OWNER,
    Action.SHARE: _OWNER,
    Action.MANAGE_MEMBERS: _OWNER,
    Action.LEAVE_PROJECT: _BOTH,
    Action.DELETE_PROJECT: _OWNER,
    Action.SET_QUOTAS: _NOBODY,
    Action.MANAGE_ENVIRONMENTS: _OWNER,
    Action.REGISTER_MODELS: _BOTH,
    Action.DELETE_MODEL_VERSIONS: _OWNER,
    Action.SERVE_MODELS: _BOTH,
}

ADMIN_ACTIONS = frozenset(
    {Action.VIEW_PROJECT, Action.MANAGE_MEMBERS, Action.DELETE_PROJECT, Action.SET_QUOTAS}
)

# the datasets data scientists write: their code, their notebooks, the models they register
RESTRICTED_UPLOAD_DATASETS = frozenset({"Resources", "Jupyter", "Models"})


@dataclass(frozen=True)
class ProjectAccess:
    """Who is asking about which project, resolved once per request."""

    project_id: int
    project: str
    user_id: int
    email: str
    username: str
    role: Role | None
    is_admin: bool

    @property
    def identity(self) -> str:
        return project_user(self.project, self.username)


def _permits(role: Role | None, is_admin: bool, action: Action) -> bool:
    if role is not None and role in ROLE_MATRIX[action]:
        return True
    return is_admin and action in ADMIN_ACTIONS


def allowed(access: ProjectAccess, action: Action) -> bool:
    return _permits(access.role, access.is_admin, action)


def allowed_actions(role: Role | None, *, is_admin: bool) -> list[str]:
    """What the caller may do in a project, by action name: the web UI offers exactly these
    (it asks; it never decides), so the matrix stays the one place rights are written."""
    return [action.name.lower() for action in Action if _permits(role, is_admin, action)]


def require(access: ProjectAccess, action: Action) -> None:
    """Raise 404 for outsiders and 403 for members (or admins) without the right."""
    if access.role is None and not access.is_admin:
        raise NotFound(f"project '{access.project}' not found")
    if not allowed(access, action):
        who = access.role.value if access.role else "platform admin (not a member)"
        raise Forbidden(f"a {who} may not {action.value} in project '{access.project}'")


def write_action(dataset: str, *, shared: bool) -> Action:
    """Data scientists may write programs into Resources and Jupyter of their own project."""
    if not shared and dataset in RESTRICTED_UPLOAD_DATASETS:
        return Action.UPLOAD_RESTRICTED
    return Action.UPLOAD


def require_platform_admin(is_admin: bool) -> None:
    if not is_admin:
        raise Forbidden("platform administrators only")
