"""Everything a request needs, built once per app instead of living in module globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.backends.registry import Backends
from hopsworks_api.clock import Clock, SystemClock
from hopsworks_api.config import Settings
from hopsworks_api.jobs.registry import ExecutionRegistry
from hopsworks_api.notebooks.registry import NotebookRegistry
from hopsworks_api.pki.ca import CertificateAuthority
from hopsworks_api.provisioning.locks import NameLocks
from hopsworks_api.security import Passwords, TokenCodec
from hopsworks_api.servings.registry import ServingRegistry


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    tokens: TokenCodec
    passwords: Passwords
    ca: CertificateAuthority
    backends: Backends
    clock: Clock = field(default_factory=SystemClock)  # tests swap in a ManualClock
    provisioning_locks: NameLocks = field(default_factory=NameLocks)
    executions: ExecutionRegistry = field(default_factory=ExecutionRegistry)
    notebooks: NotebookRegistry = field(default_factory=NotebookRegistry)
    servings: ServingRegistry = field(default_factory=ServingRegistry)
    # hot reads run on the event loop (reads.run_read): true only where every system they
    # touch is local and answers in microseconds (SQLite and the embedded storage)
    inline_reads: bool = False
