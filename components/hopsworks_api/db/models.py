"""Import every domain's ORM classes so Alembic and tests see one complete metadata."""

from hopsworks_api.audit.models import AuditHead, AuditRecord
from hopsworks_api.coordination.models import ClusterKey, LeaseRow
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.datasets.upload_models import UploadSession, UploadSessionChunk
from hopsworks_api.db.base import Base
from hopsworks_api.environments.models import Environment
from hopsworks_api.jobs.models import Execution, Job, RunnerInstance
from hopsworks_api.members.models import Membership
from hopsworks_api.model_registry.models import ModelVersion, RegisteredModel
from hopsworks_api.notebooks.models import NotebookServer
from hopsworks_api.pki.models import Certificate
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.models import ProvisioningChange
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.servings.models import Serving
from hopsworks_api.sharing.models import DatasetShare
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import ApiKey, User

__all__ = [
    "ApiKey",
    "AuditHead",
    "AuditRecord",
    "Base",
    "Certificate",
    "ClusterKey",
    "Dataset",
    "DatasetShare",
    "Environment",
    "Execution",
    "Job",
    "LeaseRow",
    "Membership",
    "ModelVersion",
    "NotebookServer",
    "Project",
    "ProjectQuota",
    "ProvisioningChange",
    "RegisteredModel",
    "RunnerInstance",
    "Serving",
    "Topic",
    "UploadSession",
    "UploadSessionChunk",
    "User",
]
