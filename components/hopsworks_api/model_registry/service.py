"""Model registry use cases. Registering reads the version's files once (through the
storage backend, as the service) to take its manifest; nothing is copied."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.storage import StorageBackend, validate_relative_path
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from hopsworks_api.model_registry.models import (
    MAX_FILES,
    MODELS_DATASET,
    Framework,
    ModelCreate,
    ModelFile,
    ModelRead,
    ModelVersion,
    ModelVersionRead,
    RegisteredModel,
)
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.servings.models import Serving
from hopsworks_api.users.models import User


def _read(session: Session, row: ModelVersion) -> ModelVersionRead:
    by = session.get(User, row.created_by) if row.created_by else None
    return ModelVersionRead(
        name=row.name,
        version=row.version,
        framework=Framework(row.framework),
        path=row.path,
        metrics=json.loads(row.metrics_json),
        description=row.description,
        input_example=(
            None if row.input_example_json is None else json.loads(row.input_example_json)
        ),
        files=[ModelFile.model_validate(f) for f in json.loads(row.manifest_json)],
        registered_by=by.email if by else None,
        created_at=row.created_at,
    )


def version_directory(path: str) -> tuple[str, ...]:
    """`Models/<dir>` -> the directory's parts inside `Models` (400 for anything else)."""
    dataset, _, rest = path.strip("/").partition("/")
    parts = validate_relative_path(rest)
    if dataset != MODELS_DATASET or not parts:
        raise BadRequest(
            f"path '{path}' must be a directory inside the project's Models dataset, "
            f"as 'Models/<dir>'",
            code="bad_model_path",
        )
    return parts


def manifest(storage: StorageBackend, project: str, directory: tuple[str, ...]) -> list[ModelFile]:
    """Every file below `directory` with its size and SHA-256, sorted by path."""
    entry = storage.stat(project, MODELS_DATASET, directory)
    if entry is None or not entry.is_dir:
        raise BadRequest(
            f"'{MODELS_DATASET}/{'/'.join(directory)}' is not a directory in the project",
            code="bad_model_path",
        )
    files: list[ModelFile] = []
    todo = [directory]
    while todo:
        current = todo.pop()
        for child in storage.list_dir(project, MODELS_DATASET, current):
            path = (*current, child.name)
            if child.is_dir:
                todo.append(path)
                continue
            if len(files) >= MAX_FILES:
                raise BadRequest(
                    f"a model version holds at most {MAX_FILES} files", code="bad_model_path"
                )
            digest = hashlib.sha256()
            size = 0
            for chunk in storage.open_read(project, MODELS_DATASET, path):
                digest.update(chunk)
                size += len(chunk)
            relative = "/".join(path[len(directory) :])
            files.append(ModelFile(path=relative, size=size, sha256=digest.hexdigest()))
    if not files:
        raise BadRequest(
            f"'{MODELS_DATASET}/{'/'.join(directory)}' holds no files", code="bad_model_path"
        )
    return sorted(files, key=lambda f: f.path)


def _version(session: Session, access: ProjectAccess, name: str, version: int) -> ModelVersion:
    row = session.scalar(
        select(ModelVersion).where(
            ModelVersion.project_id == access.project_id,
            ModelVersion.name == name,
            ModelVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(f"model '{name}' has no version {version} in project '{access.project}'")
    return row


def register(rt: Runtime, *, user: User, project: str, data: ModelCreate) -> ModelVersionRead:
    directory = version_directory(data.path)
    with rt.read_sessions() as read:
        access = project_service.authorize(
            read, project=project, user=user, action=Action.REGISTER_MODELS
        )
    files = manifest(rt.backends.storage, access.project, directory)
    _ensure_counter(rt, user=user, project=project, name=data.name)
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.REGISTER_MODELS
        )
        counter = session.scalar(
            select(RegisteredModel)
            .where(
                RegisteredModel.project_id == access.project_id,
                RegisteredModel.name == data.name,
            )
            .with_for_update()
        )
        if counter is None:  # only a deleted and re-created project loses it meanwhile
            raise NotFound(f"project '{project}' not found")
        counter.last_version += 1
        row = ModelVersion(
            project_id=access.project_id,
            name=data.name,
            version=counter.last_version,
            framework=data.framework.value,
            path=f"{MODELS_DATASET}/{'/'.join(directory)}",
            manifest_json=json.dumps([f.model_dump() for f in files]),
            metrics_json=json.dumps(data.metrics),
            description=data.description,
            input_example_json=(
                None if data.input_example is None else json.dumps(data.input_example)
            ),
            created_by=user.id,
        )
        session.add(row)
        session.flush()
        result = _read(session, row)
        session.commit()
        return result


def _ensure_counter(rt: Runtime, *, user: User, project: str, name: str) -> None:
    """Create the name's counter row in a transaction of its own, so registrations then
    queue on an existing row's lock (locking a row that does not exist yet takes gap locks
    on MariaDB, and two first registrations would deadlock)."""
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.REGISTER_MODELS
        )
        exists = session.scalar(
            select(RegisteredModel.id).where(
                RegisteredModel.project_id == access.project_id, RegisteredModel.name == name
            )
        )
        if exists is not None:
            return
        session.add(RegisteredModel(project_id=access.project_id, name=name, last_version=0))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another first registration made it: the same result


def list_models(rt: Runtime, *, user: User, project: str) -> list[ModelRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.execute(
            select(ModelVersion.name, ModelVersion.version)
            .where(ModelVersion.project_id == access.project_id)
            .order_by(ModelVersion.name, ModelVersion.version)
        ).all()
    versions: dict[str, list[int]] = {}
    for name, version in rows:
        versions.setdefault(name, []).append(version)
    return [ModelRead(name=n, latest_version=v[-1], versions=v) for n, v in versions.items()]


def list_versions(rt: Runtime, *, user: User, project: str, name: str) -> list[ModelVersionRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.project_id == access.project_id, ModelVersion.name == name)
            .order_by(ModelVersion.version)
        ).all()
        if not rows:
            raise NotFound(f"model '{name}' not found in project '{project}'")
        return [_read(session, row) for row in rows]


def get_version(
    rt: Runtime, *, user: User, project: str, name: str, version: int
) -> ModelVersionRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        return _read(session, _version(session, access, name, version))


def delete_version(rt: Runtime, *, user: User, project: str, name: str, version: int) -> None:
    """Removes the metadata only: the files are the member's, in `Models`, and stay."""
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.DELETE_MODEL_VERSIONS
        )
        row = _version(session, access, name, version)
        # the row locked before servings are looked at: a serving's start locks it too
        session.refresh(row, with_for_update=True)
        used = session.scalars(
            select(Serving.name).where(
                Serving.project_id == access.project_id,
                Serving.model == name,
                Serving.version == version,
            )
        ).all()
        if used:
            raise Conflict(
                f"model '{name}' version {version} is used by serving(s) "
                f"{', '.join(sorted(used))}; delete them first",
                code="model_version_in_use",
            )
        session.delete(row)
        session.commit()
