"""What a run of a member's work (an execution, a notebook server, a model server) sees of
the project: its credentials with ready client configurations, and the datasets it may read
or write. Decided here, from the DB and authz, once for every kind of run; how it is shown
to the program is the runner's business (`backends.runner`)."""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import ProjectAccess
from hopsworks_api.backends.runner.base import (
    CREDENTIALS_IDENTITY,
    CREDENTIALS_TRUSTSTORE,
    DatasetMount,
    JobRunner,
)
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.jobs import spark
from hopsworks_api.pki.client_configs import ClientContext, client_configs
from hopsworks_api.pki.credentials import credentials as member_credentials
from hopsworks_api.pki.credentials import java_truststore
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.models import DatasetShare, Permission, ShareStatus
from hopsworks_api.users.models import User


def credential_files(
    rt: Runtime, runner: JobRunner, access: ProjectAccess, *, user: User, project: str
) -> dict[str, bytes]:
    """The member's own bundle, as the credentials endpoint builds it (pki.credentials), and
    the client configurations for it (pki.client_configs), as the run sees them."""
    bundle = member_credentials(rt, user=user, project=project)
    context = ClientContext(
        project=access.project,
        identity=access.identity,
        credentials_dir=runner.credentials_dir,
        keystore_password=bundle.keystore_password,
        truststore_password=bundle.truststore_password,
        datasets_dir=runner.datasets_dir,
    )
    return {
        "certificate.pem": bundle.certificate.encode(),
        "private_key.pem": bundle.private_key.encode(),
        "ca_chain.pem": bundle.ca_chain.encode(),
        "keystore.p12": base64.b64decode(bundle.keystore),
        "keystore.password": bundle.keystore_password.encode(),
        "truststore.p12": base64.b64decode(bundle.truststore),
        "truststore.password": bundle.truststore_password.encode(),
        CREDENTIALS_IDENTITY: (bundle.private_key + bundle.certificate + bundle.ca_chain).encode(),
        CREDENTIALS_TRUSTSTORE: java_truststore(bundle.ca_chain),
        **client_configs(rt.settings, context, spark_extra=spark.SANDBOX_SPARK_CONF),
    }


def dataset_mounts(session: Session, access: ProjectAccess) -> list[DatasetMount]:
    """The project's own datasets, writable where the member's role may upload, and the
    datasets shared with it (accepted, from an active project), writable where the share is
    editable and the role may upload into a shared dataset. Read when the run starts: a
    share that ends later is not shown to later runs (a running one keeps it)."""
    names = session.scalars(
        select(Dataset.name).where(Dataset.project_id == access.project_id).order_by(Dataset.name)
    )
    mounts = [
        DatasetMount(name, authz.allowed(access, authz.write_action(name, shared=False)))
        for name in names
    ]
    may_write_shared = authz.allowed(access, authz.write_action("", shared=True))
    for owner, name, permission in session.execute(
        select(Project.name, Dataset.name, DatasetShare.permission)
        .join(Dataset, Dataset.id == DatasetShare.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(
            DatasetShare.target_project_id == access.project_id,
            DatasetShare.status == ShareStatus.ACCEPTED,
            Project.status == ProjectStatus.ACTIVE,
        )
        .order_by(Project.name, Dataset.name)
    ):
        writable = permission == Permission.EDITABLE and may_write_shared
        mounts.append(DatasetMount(name, writable, owner=owner))
    return mounts
