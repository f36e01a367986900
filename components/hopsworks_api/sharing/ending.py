"""The one way a dataset share ends, whichever route ends it (the owner unshares, the
receiver rejects or leaves it): the row and every backend grant it gave go together; and
the compensation of accepting any share.

Kept apart from `sharing.service` so that `datasets.service` (leaving `owner::dataset`) can
use it without importing the sharing use cases, which import datasets."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from hopsworks_api.datasets.models import Dataset
from hopsworks_api.db.rows import copy_of
from hopsworks_api.provisioning.apply import Undo, commit_change
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.models import DatasetShare, ResourceShare, ShareStatus


def end_dataset_share(rt: Runtime, session: Session, share: DatasetShare) -> None:
    """Delete the (locked) share and commit; provisioning then revokes its grant. If the
    revoke fails the row comes back and the API names the system."""
    copy = copy_of(share)
    found = session.get(Dataset, share.dataset_id)
    projects = [share.target_project_id] + ([found.project_id] if found is not None else [])
    session.delete(share)
    session.flush()
    commit_change(rt, session, reason="end share", projects=projects, undo=copy.restore)


def undo_accept(model: type[DatasetShare] | type[ResourceShare], share_id: int) -> Undo:
    """The compensation of accepting a share: it is an offer again."""

    def undo(session: Session) -> None:
        session.execute(
            update(model).where(model.id == share_id).values(status=ShareStatus.PENDING)
        )

    return undo
