"""Datasets on HDFS, over the WebHDFS REST API: `<root>/Projects/<project>/<dataset>`.

The cluster twin of `EmbeddedStorage`, written against the Apache Hadoop 3.x "WebHDFS REST
API" document (the sections are cited where each operation is used). Only documented
operations are sent, so any NameNode that serves `/webhdfs/v1` works; the control service
talks to it as the HDFS superuser with simple authentication (`user.name=`), over TLS
with the host certificate the platform CA issued when `https://` is configured.

Semantics kept from the local backend, and how HDFS gives them:

- an upload is invisible until commit: it streams (chunked, never buffered whole) into
  `<dataset>/.hops-upload-<uuid>` and is published with RENAME. The temporary file lives
  inside its dataset so it is charged to the project's HDFS quota while it streams and
  inherits the dataset's group and default ACL at creation (HDFS never re-applies those
  on rename). Names starting with `.hops-` are reserved by `validate_relative_path`, so
  they never collide with user files, and listings hide them.
- deletions of projects and datasets are undoable until `purge`: one RENAME to a hidden
  sibling (`.hops-trash-<uuid>` next to it), DELETE on purge. A rename within the same
  parent creates no inode and moves nothing between quota trees, so moving aside and
  restoring can never fail on a full quota.
- every failure of the system itself (refused connection, timeout, 5xx, standby or
  safe-mode NameNode) raises `BackendUnavailable("hdfs", ...)`; HDFS's RemoteExceptions
  that are about the request map to the platform's domain errors.

Beyond the StorageBackend Protocol it offers the operations a multi-tenant platform needs
from HDFS (ownership, permissions, group ACLs for sharing, quotas); each is idempotent so
a saga can repeat it and `hops reconcile` can converge to it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import ssl
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import httpx

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.storage.base import RESERVED_PREFIX, EntryInfo
from hopsworks_api.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
)

log = logging.getLogger(__name__)

SYSTEM = "hdfs"
API_PREFIX = "/webhdfs/v1"
TRASH_PREFIX = f"{RESERVED_PREFIX}trash-"
UPLOAD_PREFIX = f"{RESERVED_PREFIX}upload-"
ASIDE_PREFIX = f"{RESERVED_PREFIX}replaced-"
# HdfsConstants.QUOTA_RESET: "Namespace Quota"/"Storage Space Quota" value that clears it.
QUOTA_RESET = -1
LONG_MAX = 2**63 - 1

# RemoteException names (document section "Error Responses") and what they mean here.
_NOT_FOUND = frozenset({"FileNotFoundException"})
_CONFLICT = frozenset(
    {
        "FileAlreadyExistsException",
        "ParentNotDirectoryException",
        "PathIsNotEmptyDirectoryException",
        "PathIsNotDirectoryException",
    }
)
_FORBIDDEN = frozenset({"AccessControlException", "AuthorizationException"})
_QUOTA = frozenset(
    {
        "QuotaExceededException",
        "DSQuotaExceededException",
        "NSQuotaExceededException",
        "QuotaByStorageTypeExceededException",
    }
)
_BAD_REQUEST = frozenset({"InvalidPathException", "AclException", "HadoopIllegalArgumentException"})
_ACL_NAME = re.compile(r"^[^\s:,/]{1,255}$")
_OCTAL = re.compile(r"^[0-7]{1,4}$")


class UnsupportedOperation(BackendUnavailable):
    """The NameNode does not know a WebHDFS op (an older Hadoop): a deployment problem."""


@dataclass(frozen=True)
class Trashed:
    """What `trash_*` moved where; `trash` is None when there was nothing to move."""

    origin: str
    trash: str | None


class ContentSummary(NamedTuple):
    """GETCONTENTSUMMARY of a project (document "Get Content Summary of a Directory").

    `bytes` is the logical size; `dirs` counts the directory itself as HDFS does; quotas
    are None when unset (HDFS reports -1). `space_quota` is in raw bytes, replicas included.
    """

    bytes: int
    files: int
    dirs: int
    space_quota: int | None
    namespace_quota: int | None


@dataclass(frozen=True)
class AclStatus:
    """GETACLSTATUS (document "Get ACL Status"): the entries beyond the permission bits."""

    owner: str
    group: str
    permission: str
    sticky: bool
    entries: tuple[str, ...]


def _ssl_context(verify: bool | str | ssl.SSLContext, cert: str | tuple[str, str] | None) -> Any:
    """httpx 0.28 deprecates `cert=` and string `verify=`; build the one SSLContext instead."""
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
            verify.load_cert_chain(certfile, keyfile)
        return verify
    if verify is True and cert is None:
        return True
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        context.load_cert_chain(certfile, keyfile)
    return context


def _segment_ok(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def _entry(status: Mapping[str, Any], name: str) -> EntryInfo:
    """A FileStatus JSON object (document "FileStatus JSON Schema") as an EntryInfo."""
    is_dir = status.get("type") == "DIRECTORY"
    modified = datetime.fromtimestamp(int(status.get("modificationTime", 0)) / 1000, UTC)
    return EntryInfo(
        name=name,
        is_dir=is_dir,
        size=0 if is_dir else int(status.get("length", 0)),
        modified=modified.replace(tzinfo=None),
    )


def _remote_exception(response: httpx.Response) -> tuple[str, str] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    remote = body.get("RemoteException") if isinstance(body, dict) else None
    if not isinstance(remote, dict):
        return None
    name = str(remote.get("exception") or remote.get("javaClassName", "").rsplit(".", 1)[-1])
    return name, str(remote.get("message", ""))


def map_error(response: httpx.Response, op: str) -> AppError:
    """Turn a failed WebHDFS answer into the platform error it means.

    The document maps every IOException to 403, so the status alone cannot tell a
    permission problem from a quota or an existing file: the RemoteException's
    `exception` name decides, and anything not about the request itself (5xx, standby,
    safe mode, unknown IOExceptions, non-JSON bodies from proxies) is the system failing.
    """
    status = response.status_code
    remote = _remote_exception(response)
    if remote is None:
        return BackendUnavailable(SYSTEM, f"{op}: unexpected HTTP {status} from WebHDFS")
    name, message = remote
    text = f"{op}: {message}" if message else op
    if name in _NOT_FOUND:
        return NotFound(text)
    if name in _CONFLICT:
        return Conflict(text)
    if name in _FORBIDDEN:
        return Forbidden(text)
    if name in _QUOTA:
        return PayloadTooLarge(text)
    if name in ("IllegalArgumentException", "UnsupportedOperationException") and (
        'parameter "op"' in message or name == "UnsupportedOperationException"
    ):
        return UnsupportedOperation(SYSTEM, f"the NameNode does not support {op}: {message}")
    if name in _BAD_REQUEST or (status == 400 and name == "IllegalArgumentException"):
        return BadRequest(text, code="bad_path" if name == "InvalidPathException" else None)
    return BackendUnavailable(SYSTEM, f"{op} failed with {name}: {message}")


class WebHdfsStorage:
    """The StorageBackend Protocol over WebHDFS, plus ownership, ACLs and quotas.

    `namenode_url` is the NameNode's HTTP(S) address (`dfs.namenode.http(s)-address`,
    ports 9870 / 9871 by default); `superuser` is sent as `user.name` on every call.
    Timeouts are bounded so a dead NameNode or DataNode turns into `BackendUnavailable`
    instead of a hung request. `dir_permission` / `file_permission` are passed on MKDIRS
    and CREATE: they also filter what a directory's default ACL gives new children, so
    they must leave the group class open for group-based sharing to work.
    """

    def __init__(
        self,
        namenode_url: str,
        *,
        superuser: str = "hdfs",
        root: str = "/",
        verify: bool | str | ssl.SSLContext = True,
        cert: str | tuple[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        upload_idle_timeout: float = 300.0,
        projects_permission: str = "755",
        project_permission: str = "751",
        dir_permission: str = "770",
        file_permission: str = "660",
        upload_buffer_chunks: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not root.startswith("/"):
            raise ValueError("root must be an absolute HDFS path")
        for value in (projects_permission, project_permission, dir_permission, file_permission):
            _check_octal(value)
        self.namenode_url = namenode_url.rstrip("/")
        self.superuser = superuser
        self.root = root.rstrip("/")
        self.projects_dir = f"{self.root}/Projects"
        self.projects_permission = projects_permission
        self.project_permission = project_permission
        self.dir_permission = dir_permission
        self.file_permission = file_permission
        self.read_timeout = read_timeout
        self.upload_idle_timeout = upload_idle_timeout
        self.upload_buffer_chunks = upload_buffer_chunks
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._client = httpx.Client(
            base_url=self.namenode_url,
            timeout=self._timeout,
            verify=_ssl_context(verify, cert),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )
        self._layout_ready = False

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebHdfsStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebHdfsStorage({self.namenode_url!r}, superuser={self.superuser!r})"

    # -- the wire ------------------------------------------------------------------------
    def _url(self, path: str, op: str, params: Mapping[str, str] | None = None) -> str:
        """Build `/webhdfs/v1/<PATH>?op=...` (document "FileSystem URIs vs HTTP URLs").

        Paths and query values are percent-encoded (`%20`, never `+`), so names with
        spaces, `+`, `%`, `#`, `?` or non-ASCII letters survive every server's decoding.
        """
        query = {"op": op, "user.name": self.superuser, **(params or {})}
        encoded = urlencode(query, quote_via=quote, safe="/")
        return f"{API_PREFIX}{quote(path, safe='/')}?{encoded}"

    def _send(
        self,
        method: str,
        path: str,
        op: str,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        try:
            response = self._client.request(method, self._url(path, op, params))
        except httpx.TimeoutException as exc:
            log.warning("webhdfs timeout", extra={"op": op, "url": self.namenode_url})
            raise BackendUnavailable(SYSTEM, f"{op}: the NameNode did not answer in time") from exc
        except httpx.TransportError as exc:
            log.warning("webhdfs unreachable", extra={"op": op, "url": self.namenode_url})
            raise BackendUnavailable(
                SYSTEM, f"{op}: cannot reach the NameNode ({type(exc).__name__})"
            ) from exc
        if response.status_code not in ok:
            raise map_error(response, op)
        return response

    def _json(self, response: httpx.Response, key: str, op: str) -> Any:
        try:
            return response.json()[key]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailable(SYSTEM, f"{op}: malformed answer from WebHDFS") from exc

    def _boolean(self, method: str, path: str, op: str, params: Mapping[str, str]) -> bool:
        """MKDIRS, RENAME and DELETE answer a Boolean JSON object ("Boolean JSON Schema")."""
        return bool(self._json(self._send(method, path, op, params), "boolean", op))

    def _status(self, path: str) -> dict[str, Any] | None:
        """GETFILESTATUS ("Status of a File/Directory"); None when there is nothing there."""
        try:
            response = self._send("GET", path, "GETFILESTATUS")
        except (NotFound, Conflict):
            return None  # Conflict: a path component is a file (ParentNotDirectory)
        return dict(self._json(response, "FileStatus", "GETFILESTATUS"))

    def _summary(self, path: str) -> dict[str, Any] | None:
        """GETCONTENTSUMMARY ("Get Content Summary of a Directory"); None when absent."""
        try:
            response = self._send("GET", path, "GETCONTENTSUMMARY")
        except (NotFound, Conflict):
            return None  # Conflict: a path component is a file (ParentNotDirectory)
        return dict(self._json(response, "ContentSummary", "GETCONTENTSUMMARY"))

    def _mkdirs(self, path: str, permission: str) -> None:
        """MKDIRS ("Make a Directory"): creates missing ancestors, true if it already exists."""
        if not self._boolean("PUT", path, "MKDIRS", {"permission": permission}):
            raise Conflict("could not create directory")

    def _rename(self, source: str, destination: str) -> bool:
        """RENAME ("Rename a File/Directory"). The document's rename is FileSystem.rename:
        false (no error) when the source is missing or the destination is taken, and an
        existing destination directory receives the source inside it - callers check first.
        """
        return self._boolean("PUT", source, "RENAME", {"destination": destination})

    def _delete(self, path: str, recursive: bool) -> bool:
        """DELETE ("Delete a File/Directory"): false when there was nothing to delete."""
        return self._boolean(
            "DELETE", path, "DELETE", {"recursive": "true" if recursive else "false"}
        )

    def _delete_quietly(self, path: str, recursive: bool = False) -> None:
        """Best-effort cleanup on a failure path: never masks the error being raised."""
        try:
            self._delete(path, recursive)
        except AppError:
            log.warning("webhdfs cleanup failed", extra={"path": path})

    def _datanode_location(self, response: httpx.Response, op: str) -> str:
        """Step 1 of CREATE/OPEN: the DataNode URL, from `noredirect=true`'s JSON
        `{"Location": ...}` or, on servers that ignore that flag, a 307's Location header."""
        if response.status_code == 307:
            location = response.headers.get("location")
        else:
            location = self._json(response, "Location", op)
        if not location:
            raise BackendUnavailable(SYSTEM, f"{op}: the NameNode named no DataNode")
        return str(location)

    # -- paths ---------------------------------------------------------------------------
    def _project_path(self, project: str) -> str:
        if not _segment_ok(project):
            raise BadRequest(f"invalid project name '{project}'", code="bad_path")
        return f"{self.projects_dir}/{project}"

    def _dataset_path(self, project: str, dataset: str) -> str:
        if not _segment_ok(dataset):
            raise BadRequest(f"invalid dataset name '{dataset}'", code="bad_path")
        return f"{self._project_path(project)}/{dataset}"

    def _path(self, project: str, dataset: str, path: tuple[str, ...]) -> str:
        base = self._dataset_path(project, dataset)
        if not all(_segment_ok(part) for part in path):
            raise BadRequest("path escapes its dataset", code="bad_path")
        return "/".join((base, *path))

    def _admin_path(self, path_parts: tuple[str, ...]) -> str:
        """`path_parts` of the extra operations are relative to `<root>/Projects`."""
        if not path_parts or not all(_segment_ok(part) for part in path_parts):
            raise BadRequest("invalid path", code="bad_path")
        return "/".join((self.projects_dir, *path_parts))

    def _ensure_layout(self) -> None:
        """`<root>/Projects` must exist and be traversable by every tenant before a
        project directory is made under it (MKDIRS would otherwise create it with the
        project's mode)."""
        if not self._layout_ready:
            self._mkdirs(self.projects_dir, self.projects_permission)
            self._layout_ready = True

    # -- StorageBackend: projects and datasets -------------------------------------------
    def project_exists(self, project: str) -> bool:
        status = self._status(self._project_path(project))
        return status is not None and status.get("type") == "DIRECTORY"

    def create_project(self, project: str) -> None:
        self._ensure_layout()
        path = self._project_path(project)
        try:
            self._mkdirs(path, self.project_permission)
        except Conflict as exc:
            raise Conflict(f"a file named '{project}' is in the way of the project") from exc

    def delete_project(self, project: str) -> None:
        self.purge(self.trash_project(project))

    def create_dataset(self, project: str, dataset: str) -> None:
        """MKDIRS would make a missing project directory with the dataset's mode, so the
        project is made (idempotently, with its own mode) first."""
        path = self._dataset_path(project, dataset)
        self.create_project(project)
        try:
            self._mkdirs(path, self.dir_permission)
        except Conflict as exc:
            raise Conflict(f"a file is in the way of dataset '{dataset}'") from exc

    def delete_dataset(self, project: str, dataset: str) -> None:
        self.purge(self.trash_dataset(project, dataset))

    def trash_project(self, project: str) -> Trashed:
        return self._trash(self._project_path(project))

    def trash_dataset(self, project: str, dataset: str) -> Trashed:
        return self._trash(self._dataset_path(project, dataset))

    def _trash(self, source: str) -> Trashed:
        """Move aside with one RENAME to a hidden sibling: undoable until `purge`."""
        if self._status(source) is None:
            return Trashed(source, None)
        trash = f"{source.rsplit('/', 1)[0]}/{TRASH_PREFIX}{uuid.uuid4().hex}"
        if not self._rename(source, trash):
            if self._status(source) is None:
                return Trashed(source, None)  # removed concurrently: nothing to undo
            raise BackendUnavailable(SYSTEM, "RENAME: could not move the directory aside")
        return Trashed(source, trash)

    def restore(self, trashed: Trashed) -> None:
        if trashed.trash is None or self._status(trashed.trash) is None:
            return
        if self._status(trashed.origin) is not None:
            # RENAME would move the trash *into* the new directory: refuse instead.
            raise Conflict("cannot restore: something was created at the same path meanwhile")
        if not self._rename(trashed.trash, trashed.origin):
            raise BackendUnavailable(SYSTEM, "RENAME: could not restore the trashed directory")

    def purge(self, trashed: Trashed) -> None:
        if trashed.trash is not None:
            self._delete(trashed.trash, recursive=True)

    # -- StorageBackend: files -----------------------------------------------------------
    def stat(self, project: str, dataset: str, path: tuple[str, ...]) -> EntryInfo | None:
        status = self._status(self._path(project, dataset, path))
        if status is None:
            return None
        return _entry(status, path[-1] if path else dataset)

    def list_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> list[EntryInfo]:
        """LISTSTATUS ("List a Directory"); on a file it answers the file itself ("List a
        File", empty pathSuffix), which is not a directory here."""
        target = self._path(project, dataset, path)
        missing = NotFound(f"no directory '{'/'.join(path)}'")
        try:
            response = self._send("GET", target, "LISTSTATUS")
        except (NotFound, Conflict) as exc:
            raise missing from exc
        statuses = self._json(response, "FileStatuses", "LISTSTATUS").get("FileStatus", [])
        if len(statuses) == 1 and statuses[0].get("pathSuffix") == "":
            raise missing
        entries = [
            _entry(status, status["pathSuffix"])
            for status in statuses
            if not str(status.get("pathSuffix", "")).startswith(RESERVED_PREFIX)
        ]
        return sorted(entries, key=lambda entry: entry.name)

    def open_read(
        self,
        project: str,
        dataset: str,
        path: tuple[str, ...],
        chunk_size: int = 1024 * 1024,
        offset: int = 0,
        length: int | None = None,
    ) -> Iterator[bytes]:
        """OPEN ("Open and Read a File", with its `offset` and `length` parameters): ask the
        NameNode for a DataNode, then stream the file from it. Errors before the first byte
        (missing file, permission) raise here; the body is then pulled chunk by chunk as the
        caller iterates."""
        target = self._path(project, dataset, path)
        params = {"noredirect": "true"}
        if offset:
            params["offset"] = str(offset)
        if length is not None:
            params["length"] = str(length)
        try:
            first = self._send("GET", target, "OPEN", params, ok=(200, 307))
        except Conflict as exc:  # a path component is a file
            raise NotFound(f"no file '{'/'.join(path)}'") from exc
        location = self._datanode_location(first, "OPEN")
        request = self._client.build_request("GET", location)
        try:
            response = self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                SYSTEM, f"OPEN: cannot read from the DataNode ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            with contextlib.suppress(httpx.TransportError):
                response.read()
            response.close()
            raise map_error(response, "OPEN")
        return _Download(response, chunk_size)

    def make_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> None:
        """MKDIRS ("Make a Directory") after a GETFILESTATUS: MKDIRS itself answers true for
        a directory that already exists, and the contract wants a Conflict then."""
        dataset_dir = self._dataset_path(project, dataset)
        target = self._path(project, dataset, path)
        if not path:
            raise Conflict("the dataset itself already exists")
        status = self._status(dataset_dir)
        if status is None or status.get("type") != "DIRECTORY":
            raise NotFound(f"dataset '{dataset}' has no storage")
        if self._status(target) is not None:
            raise Conflict(f"'{'/'.join(path)}' already exists", code="already_exists")
        try:
            self._mkdirs(target, self.dir_permission)
        except Conflict as exc:
            raise Conflict(f"a file is in the way of directory '{'/'.join(path)}'") from exc

    def begin_write(
        self, project: str, dataset: str, path: tuple[str, ...], token: str | None = None
    ) -> WebHdfsPendingWrite:
        """Step 1 of CREATE ("Create and Write to a File") now; the data streams to the
        DataNode as the caller writes, so a refusal surfaces on the first writes."""
        dataset_dir = self._dataset_path(project, dataset)
        target = self._path(project, dataset, path)
        status = self._status(dataset_dir)
        if status is None or status.get("type") != "DIRECTORY":
            raise NotFound(f"dataset '{dataset}' has no storage")
        token = _check_token(token or uuid.uuid4().hex)
        temp = f"{dataset_dir}/{UPLOAD_PREFIX}{token}"
        params = {"overwrite": "false", "permission": self.file_permission, "noredirect": "true"}
        first = self._send("PUT", temp, "CREATE", params, ok=(200, 307))
        location = self._datanode_location(first, "CREATE")
        writer = WebHdfsPendingWrite(self, project, dataset_dir, temp, target, path, location)
        writer.token = token
        writer.dataset_file_id = status.get("fileId")
        return writer

    def discard_upload(self, project: str, dataset: str, token: str) -> None:
        """Remove the temporary file of an upload that will never finish (its process died)."""
        temp = f"{self._dataset_path(project, dataset)}/{UPLOAD_PREFIX}{_check_token(token)}"
        self._delete_quietly(temp)

    def _same_dataset(self, dataset_dir: str, file_id: object) -> bool:
        """Whether the dataset directory is still the one an upload began in: HDFS inode ids
        (`fileId`) are never reused, so a dataset re-created under the name is told apart."""
        status = self._status(dataset_dir)
        if status is None or status.get("type") != "DIRECTORY":
            return False
        return file_id is None or status.get("fileId") in (None, file_id)

    def _publish(
        self, temp: str, target: str, dataset_dir: str, path: tuple[str, ...]
    ) -> int | None:
        """Move a finished upload into place; return the size of the file it replaced.

        Without an existing file this is one atomic RENAME. The documented RENAME cannot
        overwrite, so a replacement moves the old file aside first: a concurrent reader may
        briefly see no file, never a partial one, and a failure puts the old file back.
        """
        parent = target.rsplit("/", 1)[0]
        if parent != dataset_dir:
            try:
                self._mkdirs(parent, self.dir_permission)
            except Conflict as exc:
                raise Conflict(
                    f"a file is in the way of directory '{'/'.join(path[:-1])}'"
                ) from exc
        for _attempt in range(3):
            status = self._status(target)
            if status is not None and status.get("type") == "DIRECTORY":
                raise Conflict("a directory already exists at that path")
            if status is None:
                if self._rename(temp, target):
                    return None
                continue
            aside = f"{dataset_dir}/{ASIDE_PREFIX}{uuid.uuid4().hex}"
            if not self._rename(target, aside):
                continue
            try:
                moved = self._rename(temp, target)
            except BaseException:
                self._put_back(aside, target)
                raise
            if moved:
                self._delete_quietly(aside)
                return int(status.get("length", 0))
            self._put_back(aside, target)
        raise Conflict("the file was changed concurrently; try again")

    def _put_back(self, aside: str, target: str) -> None:
        try:
            self._rename(aside, target)
        except AppError:
            log.error("webhdfs could not put a replaced file back", extra={"path": target})

    def delete_path(self, project: str, dataset: str, path: tuple[str, ...]) -> tuple[int, int]:
        """GETCONTENTSUMMARY for what goes, then one recursive DELETE."""
        target = self._path(project, dataset, path)
        summary = self._summary(target)
        if summary is None or not self._delete(target, recursive=True):
            raise NotFound(f"no file or directory '{'/'.join(path)}'")
        return int(summary.get("length", 0)), int(summary.get("fileCount", 0))

    def usage(self, project: str, dataset: str | None = None) -> tuple[int, int]:
        """(bytes, files) of a dataset or a project, without trashed datasets that await
        their purge. Uploads still streaming count: HDFS charges them already."""
        if dataset is not None:
            summary = self._summary(self._dataset_path(project, dataset))
            return (0, 0) if summary is None else (summary["length"], summary["fileCount"])
        project_dir = self._project_path(project)
        summary = self._summary(project_dir)
        if summary is None:
            return 0, 0
        size, files = int(summary["length"]), int(summary["fileCount"])
        for name in self._child_names(project_dir):
            if name.startswith(TRASH_PREFIX):
                trashed = self._summary(f"{project_dir}/{name}") or {"length": 0, "fileCount": 0}
                size, files = size - int(trashed["length"]), files - int(trashed["fileCount"])
        return size, files

    def _child_names(self, directory: str) -> list[str]:
        try:
            response = self._send("GET", directory, "LISTSTATUS")
        except NotFound:
            return []
        statuses = self._json(response, "FileStatuses", "LISTSTATUS").get("FileStatus", [])
        return [str(status.get("pathSuffix", "")) for status in statuses]

    # -- beyond the Protocol: ownership, permissions, sharing, quotas --------------------
    def set_owner(self, path_parts: tuple[str, ...], user: str | None, group: str | None) -> None:
        """SETOWNER ("Set Owner") of `<root>/Projects/<path_parts...>`; None keeps a field.
        Not recursive: the service owns what it creates as it creates it."""
        if user is None and group is None:
            raise BadRequest("set_owner needs a user or a group")
        params = {k: v for k, v in (("owner", user), ("group", group)) if v is not None}
        for value in params.values():
            _check_principal(value)
        self._send("PUT", self._admin_path(path_parts), "SETOWNER", params)

    def set_permission(self, path_parts: tuple[str, ...], octal: int | str) -> None:
        """SETPERMISSION ("Set Permission"): `octal` as 0o2770-style int or "2770"."""
        text = f"{octal:o}" if isinstance(octal, int) else octal
        _check_octal(text)
        self._send("PUT", self._admin_path(path_parts), "SETPERMISSION", {"permission": text})

    def acl_status(self, path_parts: tuple[str, ...]) -> AclStatus:
        """GETACLSTATUS ("Get ACL Status"), for tests and drift reports."""
        response = self._send("GET", self._admin_path(path_parts), "GETACLSTATUS")
        body = self._json(response, "AclStatus", "GETACLSTATUS")
        return AclStatus(
            owner=str(body.get("owner", "")),
            group=str(body.get("group", "")),
            permission=str(body.get("permission", "")),
            sticky=bool(body.get("stickyBit", False)),
            entries=tuple(body.get("entries", [])),
        )

    def grant_group(self, project: str, dataset: str, group: str, writable: bool) -> None:
        """Give `group` read (r-x) or write (rwx) access to a dataset, and the same default
        ACL entry on every directory so children created later inherit it.

        MODIFYACLENTRIES ("Modify ACL Entries") replaces an existing entry for the group,
        so calling again (or flipping `writable`) converges. HDFS applies an ACL to one
        inode only, so existing content is walked (LISTSTATUS per directory): a few calls on
        a new, empty dataset; O(entries) on a full one. Files get r--/rw- (no x bit).
        """
        _check_principal(group)
        mode = "rwx" if writable else "r-x"
        file_mode = "rw-" if writable else "r--"
        self._walk_acl(
            self._dataset_path(project, dataset),
            "MODIFYACLENTRIES",
            directory_spec=f"group:{group}:{mode},default:group:{group}:{mode}",
            file_spec=f"group:{group}:{file_mode}",
        )

    def share_groups(self, project: str, dataset: str) -> dict[str, bool]:
        """The named-group access entries (`group:<name>:<perm>`) on the dataset directory;
        default entries and the unnamed base entry `group::` are not grants."""
        try:
            status = self.acl_status((project, dataset))
        except NotFound as exc:
            raise NotFound("the dataset has no storage") from exc
        groups: dict[str, bool] = {}
        for entry in status.entries:
            kind, _, rest = entry.partition(":")
            name, _, perm = rest.partition(":")
            if kind == "group" and name:
                groups[name] = "w" in perm
        return groups

    def revoke_group(self, project: str, dataset: str, group: str) -> None:
        """REMOVEACLENTRIES ("Remove ACL Entries") of the group's access and default entries
        on the dataset and everything in it; removing absent entries is a no-op. HDFS keeps
        the base entries (`group::`, `default:user::` ...) it derived, as the document says."""
        _check_principal(group)
        self._walk_acl(
            self._dataset_path(project, dataset),
            "REMOVEACLENTRIES",
            directory_spec=f"group:{group},default:group:{group}",
            file_spec=f"group:{group}",
        )

    def _walk_acl(self, top: str, op: str, directory_spec: str, file_spec: str) -> None:
        if self._status(top) is None:
            raise NotFound("the dataset has no storage")
        pending = [top]
        while pending:
            directory = pending.pop()
            self._send("PUT", directory, op, {"aclspec": directory_spec})
            try:
                response = self._send("GET", directory, "LISTSTATUS")
            except NotFound:
                continue  # removed while we walked: nothing left to grant on
            for status in self._json(response, "FileStatuses", "LISTSTATUS").get("FileStatus", []):
                child = f"{directory}/{status['pathSuffix']}"
                if status.get("type") == "DIRECTORY":
                    pending.append(child)
                else:
                    try:
                        self._send("PUT", child, op, {"aclspec": file_spec})
                    except NotFound:
                        continue

    def set_quota(self, project: str, space_bytes: int | None, namespace_count: int | None) -> None:
        """SETQUOTA ("Set Quota") on the project directory; None clears a quota.

        `space_bytes` is raw storage including every replica (the document's "Storage
        Space Quota"); `namespace_count` counts files and directories, the project
        directory itself included. HDFS refuses a block when less than one full block
        (block size x replication) is left, so space quotas must leave at least that room.
        WebHDFS gained SETQUOTA in Hadoop 3.3.0 (and 3.2.2, HDFS-8631); older NameNodes
        raise BackendUnavailable saying so.
        """
        if space_bytes is not None and not 0 <= space_bytes < LONG_MAX:
            raise BadRequest("space quota must be between 0 and 2^63-2 bytes")
        if namespace_count is not None and not 0 < namespace_count < LONG_MAX:
            raise BadRequest("namespace quota must be between 1 and 2^63-2")
        params = {
            "namespacequota": str(QUOTA_RESET if namespace_count is None else namespace_count),
            "storagespacequota": str(QUOTA_RESET if space_bytes is None else space_bytes),
        }
        try:
            self._send("PUT", self._project_path(project), "SETQUOTA", params)
        except UnsupportedOperation as exc:
            raise UnsupportedOperation(
                SYSTEM,
                "this NameNode's WebHDFS has no SETQUOTA (added in Hadoop 3.3.0 and 3.2.2, "
                "HDFS-8631); upgrade, or set project quotas with `hdfs dfsadmin -setQuota` "
                "and `-setSpaceQuota`",
            ) from exc

    def content_summary(self, project: str) -> ContentSummary:
        """GETCONTENTSUMMARY of the project: what HDFS counts against its quotas (trash and
        streaming uploads included)."""
        summary = self._summary(self._project_path(project))
        if summary is None:
            raise NotFound(f"project '{project}' has no storage")
        space_quota = int(summary.get("spaceQuota", QUOTA_RESET))
        namespace_quota = int(summary.get("quota", QUOTA_RESET))
        return ContentSummary(
            bytes=int(summary.get("length", 0)),
            files=int(summary.get("fileCount", 0)),
            dirs=int(summary.get("directoryCount", 0)),
            space_quota=None if space_quota < 0 else space_quota,
            namespace_quota=None if namespace_quota < 0 else namespace_quota,
        )

    def _diagnose_write_failure(
        self, project_dir: str, temp: str, cause: BaseException
    ) -> AppError:
        """A DataNode that refuses a write closes the connection, so its RemoteException
        may be lost mid-upload. Tell a full quota (HDFS needs one whole block, block size
        x replication, of room) from a broken connection by asking the NameNode."""
        try:
            summary = self._summary(project_dir)
            temp_status = self._status(temp)
        except AppError:
            summary = None
            temp_status = None
        if summary is not None:
            namespace_quota = int(summary.get("quota", QUOTA_RESET))
            names = int(summary.get("directoryCount", 0)) + int(summary.get("fileCount", 0))
            if 0 <= namespace_quota <= names and temp_status is None:
                return PayloadTooLarge("CREATE: the project's HDFS namespace quota is exhausted")
            space_quota = int(summary.get("spaceQuota", QUOTA_RESET))
            block = 0
            if temp_status is not None:
                block = int(temp_status.get("blockSize", 0)) * int(
                    temp_status.get("replication", 1)
                )
            consumed = int(summary.get("spaceConsumed", 0))
            if space_quota >= 0 and space_quota - consumed < max(block, 1):
                return PayloadTooLarge("CREATE: the project's HDFS space quota is exhausted")
        return BackendUnavailable(
            SYSTEM, f"CREATE: the DataNode write failed ({type(cause).__name__})"
        )


def _check_token(token: str) -> str:
    """Upload tokens name files: only the service's own uuid4 hex is accepted."""
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise BadRequest("invalid upload token")
    return token


def _check_principal(name: str) -> None:
    if not _ACL_NAME.fullmatch(name):
        raise BadRequest(f"invalid HDFS user or group name '{name}'")


def _check_octal(text: str) -> None:
    if not _OCTAL.fullmatch(text) or int(text, 8) > 0o1777:
        raise BadRequest(f"invalid permission '{text}' (octal 0-1777)")


class _Download(Iterator[bytes]):
    """The DataNode's body as chunks; the connection is released at the end, on error,
    on `close()` and when the iterator is dropped unfinished."""

    def __init__(self, response: httpx.Response, chunk_size: int) -> None:
        self._response = response
        self._chunks = response.iter_bytes(chunk_size)
        self._closed = False

    def __iter__(self) -> _Download:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except httpx.TransportError as exc:
            self.close()
            raise BackendUnavailable(
                SYSTEM, f"OPEN: the DataNode stream broke ({type(exc).__name__})"
            ) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._response.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


_END = object()


class _Aborted(Exception):
    """Raised inside the request body to cut a stalled DataNode upload short."""


class WebHdfsPendingWrite:
    """Step 2 of CREATE: one PUT to the DataNode whose chunked body is fed by `write`.

    httpx pulls a request body from an iterator, while callers push chunks; a thread
    runs the PUT and a bounded queue connects the two, so at most `upload_buffer_chunks`
    chunks are in memory and a slow DataNode slows the writer down (backpressure). If the
    DataNode answers early (quota, permission) the next `write` raises that error.
    """

    def __init__(
        self,
        storage: WebHdfsStorage,
        project: str,
        dataset_dir: str,
        temp: str,
        target: str,
        path: tuple[str, ...],
        location: str,
    ) -> None:
        self._storage = storage
        self._project_dir = storage._project_path(project)
        self._dataset_dir = dataset_dir
        self._temp = temp
        self._target = target
        self._path = path
        self._location = location
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, storage.upload_buffer_chunks))
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._failure: BaseException | None = None
        self._response: httpx.Response | None = None
        self._state = "open"
        self.written = 0
        self.token = ""
        self.dataset_file_id: object = None

    # -- the DataNode request, in its own thread ----------------------------------------
    def _body(self) -> Iterator[bytes]:
        while True:
            try:
                item = self._queue.get(timeout=self._storage.upload_idle_timeout)
            except queue.Empty as exc:
                raise _Aborted("no data from the writer in time") from exc
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def _run(self) -> None:
        try:
            self._response = self._storage._client.request(
                "PUT",
                self._location,
                content=self._body(),
                headers={"Content-Type": "application/octet-stream"},
            )
        except BaseException as exc:
            self._failure = exc
        finally:
            self._finished.set()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhdfs-upload", daemon=True)
            self._thread.start()

    def _hand_over(self, item: object) -> None:
        while True:
            if self._finished.is_set():
                raise self._outcome_error() or BackendUnavailable(
                    SYSTEM, "CREATE: the DataNode ended the upload early"
                )
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _outcome_error(self) -> AppError | None:
        """What the finished PUT means: None for 201 Created, else the error to raise."""
        failure, response = self._failure, self._response
        if failure is not None:
            if isinstance(failure, httpx.TimeoutException):
                return BackendUnavailable(SYSTEM, "CREATE: the DataNode did not answer in time")
            if isinstance(failure, httpx.TransportError):
                return self._storage._diagnose_write_failure(self._project_dir, self._temp, failure)
            if isinstance(failure, _Aborted):
                return BackendUnavailable(SYSTEM, f"CREATE: {failure}")
            return BackendUnavailable(SYSTEM, f"CREATE failed: {type(failure).__name__}")
        if response is not None and response.status_code in (200, 201):
            return None
        if response is None:
            return BackendUnavailable(SYSTEM, "CREATE: no answer from the DataNode")
        return map_error(response, "CREATE")

    # -- PendingWrite --------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        if self._state != "open":
            raise RuntimeError("this upload is already finished")
        if not chunk:
            return
        self._start()
        self._hand_over(bytes(chunk))
        self.written += len(chunk)

    def seal(self) -> None:
        """End the DataNode write and wait for its confirmation: what `commit` then does is
        only the rename, short enough to run while the caller holds its locks."""
        if self._state == "sealed":
            return
        if self._state != "open":
            raise RuntimeError("this upload is already finished")
        self._state = "committing"
        try:
            self._start()
            self._hand_over(_END)
            assert self._thread is not None
            self._thread.join(self._storage.read_timeout + 5)
            if self._thread.is_alive():
                raise BackendUnavailable(SYSTEM, "CREATE: the DataNode did not confirm the write")
            error = self._outcome_error()
            if error is not None:
                raise error
        except BaseException:
            self._cleanup()
            self._state = "done"
            raise
        self._state = "sealed"

    def commit(self) -> int | None:
        self.seal()
        self._state = "committing"
        try:
            if not self._storage._same_dataset(self._dataset_dir, self.dataset_file_id):
                raise NotFound("the dataset was deleted while the upload was in flight")
            return self._storage._publish(self._temp, self._target, self._dataset_dir, self._path)
        except BaseException:
            self._cleanup()
            raise
        finally:
            self._state = "done"

    def abort(self) -> None:
        if self._state == "done":
            return
        self._state = "done"
        self._cleanup()

    def _cleanup(self) -> None:
        """Remove the temporary file for good. The body is ended cleanly and the DataNode's
        answer awaited before the DELETE: cutting the connection instead could let a slow
        DataNode create the file after the DELETE and leave an orphan behind."""
        if self._thread is not None and not self._finished.is_set():
            with contextlib.suppress(AppError):
                self._hand_over(_END)
            self._thread.join(self._storage.read_timeout + 5)
            if self._thread.is_alive():
                log.warning("webhdfs upload did not finish", extra={"path": self._temp})
        self._storage._delete_quietly(self._temp)
