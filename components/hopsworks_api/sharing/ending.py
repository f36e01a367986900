"""The one way a dataset share ends, whichever route ends it (the owner unshares, the
receiver rejects or leaves it): the row and every backend grant it gave go together.

Kept apart from `sharing.service` so that `datasets.service` (leaving `owner::dataset`) can
use it without importing the sharing use cases, which import datasets."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hopsworks_api.backends import steps as backend_steps
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga
from hopsworks_api.sharing.models import DatasetShare, Permission, ShareStatus


def end_dataset_share(
    rt: Runtime, session: Session, share: DatasetShare, *, owner: str, dataset: str, target: str
) -> None:
    """Delete the (locked) share and, if it was accepted, revoke its grants in the same saga
    as the commit: a failed revoke keeps the row, a failed commit restores the grants."""
    accepted = share.status == ShareStatus.ACCEPTED
    writable = share.permission == Permission.EDITABLE
    session.delete(share)
    session.flush()
    with Saga("end share") as saga:
        if accepted:
            backend_steps.unshare_dataset(
                saga, rt, owner=owner, dataset=dataset, target=target, writable=writable
            )
        session.commit()
