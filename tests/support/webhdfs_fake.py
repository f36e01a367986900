"""A contract fake of the WebHDFS REST API, served over real HTTP on 127.0.0.1.

HDFS cannot run on the machines this project is tested on, so `WebHdfsStorage` is tested
against this fake, which follows the Apache Hadoop 3.x "WebHDFS REST API" document
(hadoop-hdfs/src/site/markdown/WebHDFS.md; "section" below means a heading there) and, where
that document defers to them, the "HDFS Permissions Guide" (ACLs) and the "HDFS Quotas
Guide". It implements only the operations the client uses, with their documented request
parameters and JSON answers, and refuses everything else the way a NameNode refuses an
unknown op.

Two uvicorn servers share one in-memory namespace: a "NameNode" port that answers metadata
operations and redirects CREATE and OPEN, and a "DataNode" port that receives and serves
file bytes. So the client's two-step create, its redirects, its chunked upload and its
streamed download all cross real sockets.

Modelled as HDFS does it (and therefore asserted by the tests):
- RemoteException JSON bodies and their status codes ("Error Responses": IOException and
  its subclasses answer 403, FileNotFoundException 404, IllegalArgumentException 400).
- permission checks for non-superusers: traverse (x) on every ancestor, r/w on the
  target or parent, ownership for chmod/ACL changes, superuser for chown and quotas.
- ACLs as `AclTransformation`/`AclStorage` do it: modify/remove entries with automatic
  mask recalculation, default entries copied from access entries when missing, the
  permission bits' group class holding the mask, default ACLs copied into new children and
  filtered by the create mode.
- quotas as the Quotas Guide describes: the namespace quota counts files and directories
  (the directory itself included) and is checked on every create, mkdir and rename; the
  space quota counts bytes x replication and is checked whenever a block is allocated,
  for a whole block (so a write fails when less than block size x replication is left).
- a DataNode that hits a quota answers the RemoteException at once with `Connection:
  close` and closes, as the real DataNode's Netty handler (HdfsWriter.exceptionCaught)
  does, without reading the rest of the body.

Not modelled: leases and lease recovery, snapshots, symlinks, storage types, encryption
zones, the sticky bit's effect on deletion, HA and safe mode, delegation tokens.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.processes import free_port

MiB = 1024 * 1024
LONG_MAX = 2**63 - 1
QUOTA_RESET = -1
READ, WRITE, EXECUTE = 4, 2, 1
_TYPE_ORDER = {"user": 0, "group": 1, "mask": 2, "other": 3}

AclKey = tuple[str, str, str]  # (scope: "access" | "default", type, name or "")


class RemoteError(Exception):
    """A Java exception as the NameNode/DataNode reports it ("RemoteException JSON Schema")."""

    def __init__(self, status: int, java_class: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.java_class = java_class
        self.message = message

    def response(self, close: bool = False) -> JSONResponse:
        body = {
            "RemoteException": {
                "exception": self.java_class.rsplit(".", 1)[-1],
                "javaClassName": self.java_class,
                "message": self.message,
            }
        }
        headers = {"Connection": "close"} if close else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def not_found(message: str) -> RemoteError:
    return RemoteError(404, "java.io.FileNotFoundException", message)


def denied(message: str) -> RemoteError:
    return RemoteError(403, "org.apache.hadoop.security.AccessControlException", message)


def already_exists(message: str) -> RemoteError:
    return RemoteError(403, "org.apache.hadoop.fs.FileAlreadyExistsException", message)


def parent_not_directory(path: str) -> RemoteError:
    return RemoteError(
        403, "org.apache.hadoop.fs.ParentNotDirectoryException", f"{path} (is not a directory)"
    )


def illegal_argument(message: str) -> RemoteError:
    return RemoteError(400, "java.lang.IllegalArgumentException", message)


def acl_error(message: str) -> RemoteError:
    return RemoteError(403, "org.apache.hadoop.hdfs.protocol.AclException", message)


def _bad_param(name: str, value: str | None, why: str) -> RemoteError:
    return illegal_argument(f'Invalid value for webhdfs parameter "{name}": {value!r}: {why}')


@dataclass(eq=False)
class Inode:
    name: str
    is_dir: bool
    owner: str
    group: str
    perm: int  # the 12 permission bits; the group class holds the mask when an ACL exists
    file_id: int
    mtime: int
    children: dict[str, Inode] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    replication: int = 0
    block_size: int = 0
    blocks: int = 0
    under_construction: bool = False
    ns_quota: int = QUOTA_RESET
    ss_quota: int = QUOTA_RESET
    # AclFeature: named access entries and the unnamed group entry, then all default entries
    acl: dict[AclKey, int] = field(default_factory=dict)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rwx(bits: int) -> str:
    return "".join(c if bits & b else "-" for c, b in (("r", READ), ("w", WRITE), ("x", EXECUTE)))


def _parse_rwx(text: str) -> int:
    if len(text) != 3 or any(c not in (ok, "-") for c, ok in zip(text, "rwx", strict=True)):
        raise illegal_argument(f"Invalid permission in <aclSpec> : {text}")
    return sum(b for c, b in zip(text, (READ, WRITE, EXECUTE), strict=True) if c != "-")


def _acl_sort_key(key: AclKey) -> tuple[int, int, int, str]:
    scope, kind, name = key
    return (0 if scope == "access" else 1, _TYPE_ORDER[kind], 1 if name else 0, name)


def _acl_text(key: AclKey, perm: int | None) -> str:
    scope, kind, name = key
    text = f"{'default:' if scope == 'default' else ''}{kind}:{name}"
    return text if perm is None else f"{text}:{_rwx(perm)}"


def parse_acl_spec(spec: str | None, with_permission: bool) -> list[tuple[AclKey, int | None]]:
    """The `aclspec` parameter ("ACL Spec"; syntax from the HDFS Permissions Guide):
    comma-separated `[default:]user|group|mask|other:[name][:rwx]`."""
    if not spec:
        raise illegal_argument("Invalid <aclSpec> : empty")
    entries: list[tuple[AclKey, int | None]] = []
    for raw in spec.split(","):
        parts = raw.strip().split(":")
        scope = "access"
        if parts and parts[0] == "default":
            scope, parts = "default", parts[1:]
        if len(parts) != (3 if with_permission else 2):
            raise illegal_argument(f"Invalid <aclSpec> : {raw}")
        kind = parts[0]
        name = parts[1] if len(parts) > 1 else ""
        if kind not in _TYPE_ORDER or (kind in ("mask", "other") and name):
            raise illegal_argument(f"Invalid <aclSpec> : {raw}")
        perm = _parse_rwx(parts[2]) if with_permission else None
        entries.append(((scope, kind, name), perm))
    return entries


def logical_acl(inode: Inode) -> dict[AclKey, int]:
    """The full ACL of an inode (AclStorage.readINodeLogicalAcl): base entries from the
    permission bits, the mask in the group class when the access ACL is extended."""
    user, group, other = (inode.perm >> 6) & 7, (inode.perm >> 3) & 7, inode.perm & 7
    access = {k: v for k, v in inode.acl.items() if k[0] == "access"}
    entries: dict[AclKey, int] = {("access", "user", ""): user}
    if access:
        entries.update(access)
        entries[("access", "mask", "")] = group
    else:
        entries[("access", "group", "")] = group
    entries[("access", "other", "")] = other
    entries.update({k: v for k, v in inode.acl.items() if k[0] == "default"})
    return entries


def _copy_defaults_if_needed(entries: dict[AclKey, int]) -> None:
    """AclTransformation.copyDefaultsIfNeeded: a default ACL gets its missing user::,
    group:: and other:: entries from the access entries."""
    if not any(k[0] == "default" for k in entries):
        return
    for kind in ("user", "group", "other"):
        if ("default", kind, "") not in entries and ("access", kind, "") in entries:
            entries[("default", kind, "")] = entries[("access", kind, "")]


def _calculate_masks(
    entries: dict[AclKey, int],
    provided: dict[str, int],
    mask_dirty: set[str],
    scope_dirty: set[str],
) -> None:
    """AclTransformation.calculateMasks: keep a given mask, else recompute it as the union
    of the group class whenever named entries exist or a mask existed before."""
    for scope in {k[0] for k in entries}:
        union = 0
        needed = False
        for (s, kind, name), perm in entries.items():
            if s != scope:
                continue
            if kind == "group" or (name and kind == "user"):
                union |= perm
            if name:
                needed = True
        if scope not in provided and needed and scope in mask_dirty:
            raise acl_error("Invalid ACL: mask is required and cannot be deleted.")
        if scope in provided and (scope not in scope_dirty or scope in mask_dirty):
            entries[(scope, "mask", "")] = provided[scope]
        elif needed or scope in provided:
            entries[(scope, "mask", "")] = union


def store_acl(inode: Inode, entries: dict[AclKey, int]) -> None:
    """AclStorage.updateINodeAcl: owner, mask and other go into the permission bits, the
    rest into the ACL feature; a minimal ACL leaves no feature at all."""
    access = {k: v for k, v in entries.items() if k[0] == "access"}
    default = {k: v for k, v in entries.items() if k[0] == "default"}
    if default and not inode.is_dir:
        raise acl_error("Invalid ACL: only directories may have a default ACL.")
    for scope, part in (("access", access), ("default", default)):
        if part and not all((scope, kind, "") in part for kind in ("user", "group", "other")):
            raise acl_error(f"Invalid {scope} ACL: the user, group and other entries are required.")
    sticky = inode.perm & 0o1000
    user, other = access[("access", "user", "")], access[("access", "other", "")]
    feature: dict[AclKey, int] = {}
    if len(access) == 3:
        group = access[("access", "group", "")]
    else:
        group = access.get(("access", "mask", ""), access[("access", "group", "")])
        feature.update(
            {
                k: v
                for k, v in access.items()
                if k[1] in ("user", "group") and (k[2] or k[1] == "group")
            }
        )
    feature.update(default)
    inode.perm = sticky | user << 6 | group << 3 | other
    inode.acl = feature


class FakeHdfs:
    """The namespace both servers share, plus knobs for failure scenarios."""

    def __init__(self, **options: Any) -> None:
        self._lock = threading.RLock()
        self.namenode_url = ""
        self.datanode_url = ""
        self._namenode_port = 0
        self._datanode_port = 0
        self.reset(**options)

    def reset(
        self,
        *,
        superuser: str = "hdfs",
        supergroup: str = "supergroup",
        groups: dict[str, set[str]] | None = None,
        block_size: int = 128 * MiB,
        replication: int = 1,
        supports_setquota: bool = True,
        datanode_override: str | None = None,
    ) -> None:
        """A fresh, empty file system: `/` owned by the superuser, mode 755."""
        with self._lock:
            self.superuser = superuser
            self.supergroup = supergroup
            self.groups = groups or {}
            self.block_size = block_size
            self.replication = replication
            self.supports_setquota = supports_setquota
            self.datanode_override = datanode_override
            self._next_id = 16385
            self.root = Inode("", True, superuser, supergroup, 0o755, 16385, _now_ms())
            self.bytes_received = 0
            self.requests: list[tuple[str, str, str]] = []  # (role, method, op)

    # -- namespace helpers ---------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _split(path: str) -> list[str]:
        return [part for part in path.split("/") if part]

    def _validate_names(self, parts: list[str], path: str) -> None:
        """DFSUtil.isValidName: no '.', '..', ':' or empty components."""
        for part in parts:
            if part in (".", "..") or ":" in part:
                raise RemoteError(
                    400,
                    "org.apache.hadoop.fs.InvalidPathException",
                    f"Invalid path name Invalid file name: {path}",
                )

    def _resolve(self, parts: list[str]) -> list[Inode]:
        """The inodes along `parts` that exist; ParentNotDirectory if a file is in the way
        (FSPermissionChecker.checkSimpleTraverse)."""
        chain = [self.root]
        for index, part in enumerate(parts):
            node = chain[-1]
            if not node.is_dir:
                raise parent_not_directory("/" + "/".join(parts[:index]))
            child = node.children.get(part)
            if child is None:
                break
            chain.append(child)
        return chain

    def lookup(self, path: str) -> Inode | None:
        """For tests: the inode at `path`, or None."""
        with self._lock:
            parts = self._split(path)
            try:
                chain = self._resolve(parts)
            except RemoteError:
                return None
            return chain[-1] if len(chain) == len(parts) + 1 else None

    def _groups_of(self, user: str) -> set[str]:
        return self.groups.get(user, set())

    def _is_super(self, user: str) -> bool:
        return user == self.superuser or self.supergroup in self._groups_of(user)

    def _permits(self, user: str, inode: Inode, want: int) -> bool:
        """FSPermissionChecker.check / checkAccessAcl."""
        if self._is_super(user):
            return True
        groups = self._groups_of(user)
        if user == inode.owner:
            return (inode.perm >> 6) & want == want
        access = {k: v for k, v in inode.acl.items() if k[0] == "access"}
        if access:
            mask = (inode.perm >> 3) & 7
            named = access.get(("access", "user", user))
            if named is not None:
                return named & mask & want == want
            found = False
            for (_scope, kind, name), perm in access.items():
                if kind == "group" and ((not name and inode.group in groups) or name in groups):
                    if perm & mask & want == want:
                        return True
                    found = True
            if found:
                return False
        elif inode.group in groups:
            return (inode.perm >> 3) & want == want
        return inode.perm & want == want

    def _mode_string(self, inode: Inode) -> str:
        bits = "".join(_rwx((inode.perm >> shift) & 7) for shift in (6, 3, 0))
        return ("d" if inode.is_dir else "-") + bits + ("+" if inode.acl else "")

    def _require(self, user: str, inode: Inode, want: int, path: str) -> None:
        if not self._permits(user, inode, want):
            access = {READ: "READ", WRITE: "WRITE", EXECUTE: "EXECUTE"}.get(want, _rwx(want))
            raise denied(
                f'Permission denied: user={user}, access={access}, inode="{path}"'
                f":{inode.owner}:{inode.group}:{self._mode_string(inode)}"
            )

    def _traverse(self, user: str, chain: list[Inode], parts: list[str], upto: int) -> None:
        """x on every existing directory above the target (checkTraverse)."""
        for index, inode in enumerate(chain[: min(upto, len(chain))]):
            self._require(user, inode, EXECUTE, "/" + "/".join(parts[:index]))

    def _require_owner(self, user: str, inode: Inode, path: str) -> None:
        if not self._is_super(user) and user != inode.owner:
            raise denied(f"Permission denied. user={user} is not the owner of inode={path}")

    # -- accounting (Quotas Guide) -------------------------------------------------------
    def _names(self, inode: Inode) -> int:
        return 1 + sum(self._names(child) for child in inode.children.values())

    def _space(self, inode: Inode) -> int:
        if not inode.is_dir:
            if inode.under_construction:  # the last block is charged whole while open
                return max(inode.blocks * inode.block_size, len(inode.data)) * inode.replication
            return len(inode.data) * inode.replication
        return sum(self._space(child) for child in inode.children.values())

    def _check_quota(self, inode: Inode, where: str, names: int, space: int) -> None:
        """Raise what HDFS raises if `inode` cannot take `names` more inodes and `space`
        more bytes (replicas included)."""
        if names and inode.ns_quota >= 0 and self._names(inode) + names > inode.ns_quota:
            raise RemoteError(
                403,
                "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
                f"The NameSpace quota (directories and files) of directory {where} is "
                f"exceeded: quota={inode.ns_quota} file count={self._names(inode) + names}",
            )
        if space and inode.ss_quota >= 0 and self._space(inode) + space > inode.ss_quota:
            raise RemoteError(
                403,
                "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
                f"The DiskSpace quota of {where} is exceeded: quota = {inode.ss_quota} B "
                f"but diskspace consumed = {self._space(inode) + space} B",
            )

    def _check_chain(self, chain: list[Inode], parts: list[str], names: int, space: int) -> None:
        for index, inode in enumerate(chain):
            self._check_quota(inode, "/" + "/".join(parts[:index]), names, space)

    # -- creation with inherited ACLs (AclStorage.copyINodeDefaultAcl) -------------------
    def _new_inode(self, parent: Inode, name: str, is_dir: bool, user: str, perm: int) -> Inode:
        inode = Inode(name, is_dir, user, parent.group, perm, self._new_id(), _now_ms())
        default = {k: v for k, v in parent.acl.items() if k[0] == "default"}
        if default:
            minimal = len(default) == 3
            access: dict[AclKey, int] = {}
            for (_scope, kind, entry_name), entry_perm in default.items():
                value = entry_perm
                if kind == "user" and not entry_name:
                    value &= (perm >> 6) & 7
                elif (kind == "group" and minimal) or kind == "mask":
                    value &= (perm >> 3) & 7
                elif kind == "other":
                    value &= perm & 7
                access[("access", kind, entry_name)] = value
            entries = dict(access)
            if is_dir:
                entries.update(default)
            store_acl(inode, entries)
        parent.children[name] = inode
        parent.mtime = inode.mtime
        return inode

    # -- JSON shapes ---------------------------------------------------------------------
    def _file_status(self, inode: Inode, suffix: str) -> dict[str, Any]:
        """The document's "FileStatus Properties"."""
        status: dict[str, Any] = {
            "accessTime": 0 if inode.is_dir else inode.mtime,
            "blockSize": 0 if inode.is_dir else inode.block_size,
            "childrenNum": len(inode.children),
            "fileId": inode.file_id,
            "group": inode.group,
            "length": 0 if inode.is_dir else len(inode.data),
            "modificationTime": inode.mtime,
            "owner": inode.owner,
            "pathSuffix": suffix,
            "permission": format(inode.perm & 0o1777, "o"),
            "replication": 0 if inode.is_dir else inode.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if inode.is_dir else "FILE",
        }
        if inode.acl:
            status["aclBit"] = True
        return status

    def _content_summary(self, inode: Inode) -> dict[str, Any]:
        """The document's "ContentSummary JSON Schema"."""
        files = dirs = length = 0
        stack = [inode]
        while stack:
            node = stack.pop()
            if node.is_dir:
                dirs += 1
                stack.extend(node.children.values())
            else:
                files += 1
                length += len(node.data)
        return {
            "directoryCount": dirs,
            "fileCount": files,
            "length": length,
            "quota": inode.ns_quota if inode.is_dir else QUOTA_RESET,
            "spaceConsumed": self._space(inode),
            "spaceQuota": inode.ss_quota if inode.is_dir else QUOTA_RESET,
            "typeQuota": {},
        }

    # -- the HTTP surface ----------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/webhdfs/v1/{path:path}",
                    self._handle,
                    methods=["GET", "PUT", "POST", "DELETE"],
                )
            ]
        )

    async def _handle(self, request: Request) -> Response:
        role = "datanode" if request.scope["server"][1] == self._datanode_port else "namenode"
        params = request.query_params
        op = (params.get("op") or "").upper()
        user = params.get("user.name") or "dr.who"  # the default static web user
        path = "/" + "/".join(self._split(request.path_params["path"]))
        with self._lock:
            self.requests.append((role, request.method, op))
        try:
            if role == "datanode":
                if not params.get("namenoderpcaddress"):
                    raise illegal_argument("namenoderpcaddress is not specified.")
                if request.method == "PUT" and op == "CREATE":
                    return await self._datanode_create(request, path, user)
                if request.method == "GET" and op == "OPEN":
                    return self._datanode_open(path, user, params)
                raise self._unknown_op(request.method, op)
            return self._namenode(request.method, op, path, user, params)
        except RemoteError as error:
            return error.response()

    def _unknown_op(self, method: str, op: str) -> RemoteError:
        kind = {"GET": "Get", "PUT": "Put", "POST": "Post", "DELETE": "Delete"}[method]
        return _bad_param(
            "op", op, f"No enum constant org.apache.hadoop.hdfs.web.resources.{kind}OpParam.Op.{op}"
        )

    def _namenode(self, method: str, op: str, path: str, user: str, params: Any) -> Response:
        handlers = {
            ("GET", "GETFILESTATUS"): self._getfilestatus,
            ("GET", "LISTSTATUS"): self._liststatus,
            ("GET", "GETCONTENTSUMMARY"): self._getcontentsummary,
            ("GET", "GETACLSTATUS"): self._getaclstatus,
            ("GET", "OPEN"): self._open_redirect,
            ("PUT", "CREATE"): self._create_redirect,
            ("PUT", "MKDIRS"): self._mkdirs,
            ("PUT", "RENAME"): self._rename,
            ("PUT", "SETOWNER"): self._setowner,
            ("PUT", "SETPERMISSION"): self._setpermission,
            ("PUT", "MODIFYACLENTRIES"): self._modifyaclentries,
            ("PUT", "REMOVEACLENTRIES"): self._removeaclentries,
            ("PUT", "REMOVEACL"): self._removeacl,
            ("DELETE", "DELETE"): self._delete,
        }
        if self.supports_setquota:
            handlers[("PUT", "SETQUOTA")] = self._setquota
        handler = handlers.get((method, op))
        if handler is None:
            raise self._unknown_op(method, op)
        with self._lock:
            return handler(path, user, params)

    def _existing(self, path: str, user: str) -> tuple[list[str], list[Inode], Inode]:
        parts = self._split(path)
        chain = self._resolve(parts)
        self._traverse(user, chain, parts, len(parts))
        if len(chain) != len(parts) + 1:
            raise not_found(f"File does not exist: {path}")
        return parts, chain, chain[-1]

    # -- "Status of a File/Directory", "List a Directory", "List a File" -----------------
    def _getfilestatus(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        return JSONResponse({"FileStatus": self._file_status(inode, "")})

    def _liststatus(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        if not inode.is_dir:
            return JSONResponse({"FileStatuses": {"FileStatus": [self._file_status(inode, "")]}})
        self._require(user, inode, READ | EXECUTE, path)
        children = sorted(inode.children.values(), key=lambda child: child.name.encode())
        statuses = [self._file_status(child, child.name) for child in children]
        return JSONResponse({"FileStatuses": {"FileStatus": statuses}})

    # -- "Get Content Summary of a Directory", "Get ACL Status" --------------------------
    def _getcontentsummary(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        return JSONResponse({"ContentSummary": self._content_summary(inode)})

    def _getaclstatus(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        entries = [_acl_text(key, inode.acl[key]) for key in sorted(inode.acl, key=_acl_sort_key)]
        return JSONResponse(
            {
                "AclStatus": {
                    "entries": entries,
                    "group": inode.group,
                    "owner": inode.owner,
                    "permission": format(inode.perm & 0o1777, "o"),
                    "stickyBit": bool(inode.perm & 0o1000),
                }
            }
        )

    # -- redirects: "Create and Write to a File" step 1, "Open and Read a File" ----------
    def _redirect(
        self, path: str, user: str, op: str, extra: dict[str, str], params: Any
    ) -> Response:
        base = self.datanode_override or self.datanode_url
        query = {
            "op": op,
            "user.name": user,
            "namenoderpcaddress": f"127.0.0.1:{self._namenode_port}",
            **extra,
        }
        location = f"{base}/webhdfs/v1{quote(path)}?{urlencode(query, quote_via=quote)}"
        if (params.get("noredirect") or "false").lower() == "true":
            return JSONResponse({"Location": location})
        return Response(status_code=307, headers={"Location": location})

    def _create_redirect(self, path: str, user: str, params: Any) -> Response:
        """The NameNode only picks a DataNode: the file is created by step 2."""
        extra = {"createflag": "", "createparent": "true"}
        for name in ("overwrite", "permission", "replication", "blocksize"):
            if params.get(name) is not None:
                extra[name] = params[name]
        extra.setdefault("overwrite", "false")
        return self._redirect(path, user, "CREATE", extra, params)

    def _open_redirect(self, path: str, user: str, params: Any) -> Response:
        """getBlockLocations runs on the NameNode: a missing file or a directory fails here."""
        _parts, _chain, inode = self._existing(path, user)
        if inode.is_dir:
            raise not_found(f"Path is not a file: {path}")
        self._require(user, inode, READ, path)
        extra = {"offset": params.get("offset") or "0"}
        if params.get("length") is not None:
            extra["length"] = params["length"]
        return self._redirect(path, user, "OPEN", extra, params)

    # -- "Make a Directory" --------------------------------------------------------------
    def _mkdirs(self, path: str, user: str, params: Any) -> Response:
        parts = self._split(path)
        self._validate_names(parts, path)
        perm = self._permission(params, 0o755)
        chain = self._resolve(parts)
        last = chain[-1]
        if len(chain) == len(parts) + 1:
            if not last.is_dir:
                raise already_exists(f"Path is not a directory: {path}")
            self._traverse(user, chain, parts, len(parts))
            return JSONResponse({"boolean": True})
        if not last.is_dir:
            raise parent_not_directory("/" + "/".join(parts[: len(chain) - 1]))
        self._traverse(user, chain, parts, len(chain))
        self._require(user, last, WRITE | EXECUTE, "/" + "/".join(parts[: len(chain) - 1]))
        missing = parts[len(chain) - 1 :]
        self._check_chain(chain, parts, len(missing), 0)
        parent = last
        for index, name in enumerate(missing):
            # FSDirMkdirOp: implicit ancestors get the mode plus u+wx
            mode = perm if index == len(missing) - 1 else perm | 0o300
            parent = self._new_inode(parent, name, True, user, mode)
        return JSONResponse({"boolean": True})

    # -- "Rename a File/Directory" (FileSystem.rename: false rather than an error) -------
    def _rename(self, path: str, user: str, params: Any) -> Response:
        destination = params.get("destination")
        if not destination or not destination.startswith("/"):
            raise _bad_param("destination", destination, "is not absolute")
        parts = self._split(path)
        chain = self._resolve(parts)
        self._traverse(user, chain, parts, len(parts))
        if len(chain) != len(parts) + 1 or not parts:
            return JSONResponse({"boolean": False})
        source = chain[-1]
        dst_parts = self._split(destination)
        self._validate_names(dst_parts, destination)
        if dst_parts == parts:
            return JSONResponse({"boolean": True})
        if dst_parts[: len(parts)] == parts:
            return JSONResponse({"boolean": False})  # into its own subtree
        dst_chain = self._resolve(dst_parts)
        self._traverse(user, dst_chain, dst_parts, len(dst_parts))
        if len(dst_chain) == len(dst_parts) + 1:
            existing = dst_chain[-1]
            if not existing.is_dir or source.name in existing.children:
                return JSONResponse({"boolean": False})
            dst_parts = [*dst_parts, source.name]  # into the existing directory
        elif len(dst_chain) != len(dst_parts) or not dst_chain[-1].is_dir:
            return JSONResponse({"boolean": False})  # the destination's parent is missing
        src_parent, dst_parent = chain[-2], dst_chain[len(dst_parts) - 1]
        self._require(user, src_parent, WRITE | EXECUTE, "/" + "/".join(parts[:-1]))
        self._require(user, dst_parent, WRITE | EXECUTE, "/" + "/".join(dst_parts[:-1]))
        # "Quotas stick with renamed directories; the rename operation fails if operation
        # would result in a quota violation": check the directories that gain the subtree.
        source_ancestors = {id(inode) for inode in chain[:-1]}
        names, space = self._names(source), self._space(source)
        for index, inode in enumerate(dst_chain[: len(dst_parts)]):
            if id(inode) not in source_ancestors:
                where = "/" + "/".join(dst_parts[:index])
                self._check_quota(inode, where, names, space)
        del src_parent.children[source.name]
        source.name = dst_parts[-1]
        dst_parent.children[source.name] = source
        src_parent.mtime = dst_parent.mtime = _now_ms()
        return JSONResponse({"boolean": True})

    # -- "Delete a File/Directory" -------------------------------------------------------
    def _delete(self, path: str, user: str, params: Any) -> Response:
        parts = self._split(path)
        chain = self._resolve(parts)
        self._traverse(user, chain, parts, len(parts))
        if not parts or len(chain) != len(parts) + 1:
            return JSONResponse({"boolean": False})
        inode, parent = chain[-1], chain[-2]
        recursive = (params.get("recursive") or "false").lower() == "true"
        if inode.is_dir and inode.children and not recursive:
            raise RemoteError(
                403,
                "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
                f"`{path} is non empty': Directory is not empty",
            )
        self._require(user, parent, WRITE | EXECUTE, "/" + "/".join(parts[:-1]))
        del parent.children[inode.name]
        parent.mtime = _now_ms()
        return JSONResponse({"boolean": True})

    # -- "Set Owner", "Set Permission" ---------------------------------------------------
    def _setowner(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        owner, group = params.get("owner") or None, params.get("group") or None
        if owner is None and group is None:
            raise illegal_argument("Both owner and group are empty.")
        if not self._is_super(user):
            if owner is not None and owner != inode.owner:
                raise denied(
                    f"User {user} is not a super user (non-super user cannot change owner)."
                )
            if user != inode.owner:
                raise denied(f"Permission denied. user={user} is not the owner of inode={path}")
            if group is not None and group not in self._groups_of(user):
                raise denied(f"User {user} does not belong to {group}")
        if owner is not None:
            inode.owner = owner
        if group is not None:
            inode.group = group
        return Response(status_code=200)

    @staticmethod
    def _permission(params: Any, default: int) -> int:
        """The "Permission" parameter: radix-8, 0 - 1777, leading zeros may be omitted."""
        text = params.get("permission")
        if text is None or text == "":
            return default
        try:
            value = int(text, 8)
        except ValueError:
            raise _bad_param("permission", text, "not an octal number") from None
        if not 0 <= value <= 0o1777:
            raise _bad_param("permission", text, "out of range 0 - 1777")
        return value

    def _setpermission(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        self._require_owner(user, inode, path)
        inode.perm = self._permission(params, 0o755 if inode.is_dir else 0o644)
        return Response(status_code=200)

    # -- "Modify ACL Entries", "Remove ACL Entries", "Remove ACL" ------------------------
    def _modifyaclentries(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        self._require_owner(user, inode, path)
        spec = parse_acl_spec(params.get("aclspec"), with_permission=True)
        existing = logical_acl(inode)
        provided = {k[0]: v for k, v in existing.items() if k[1] == "mask"}
        entries = {k: v for k, v in existing.items() if k[1] != "mask"}
        mask_dirty: set[str] = set()
        scope_dirty: set[str] = set()
        for key, perm in spec:
            assert perm is not None
            scope_dirty.add(key[0])
            if key[1] == "mask":
                provided[key[0]] = perm
                mask_dirty.add(key[0])
            else:
                entries[key] = perm
        _copy_defaults_if_needed(entries)
        _calculate_masks(entries, provided, mask_dirty, scope_dirty)
        store_acl(inode, entries)
        return Response(status_code=200)

    def _removeaclentries(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        self._require_owner(user, inode, path)
        removed = {
            key for key, _perm in parse_acl_spec(params.get("aclspec"), with_permission=False)
        }
        existing = logical_acl(inode)
        provided: dict[str, int] = {}
        entries: dict[AclKey, int] = {}
        mask_dirty: set[str] = set()
        scope_dirty: set[str] = set()
        for key, perm in existing.items():
            if key in removed:
                scope_dirty.add(key[0])
                if key[1] == "mask":
                    mask_dirty.add(key[0])
            elif key[1] == "mask":
                provided[key[0]] = perm
            else:
                entries[key] = perm
        _copy_defaults_if_needed(entries)
        _calculate_masks(entries, provided, mask_dirty, scope_dirty)
        store_acl(inode, entries)
        return Response(status_code=200)

    def _removeacl(self, path: str, user: str, params: Any) -> Response:
        """AclStorage.removeINodeAcl: the group bits get the unnamed group entry back."""
        _parts, _chain, inode = self._existing(path, user)
        self._require_owner(user, inode, path)
        group = inode.acl.get(("access", "group", ""))
        if group is not None:
            inode.perm = (inode.perm & ~0o070) | group << 3
        inode.acl = {}
        return Response(status_code=200)

    # -- "Set Quota" ---------------------------------------------------------------------
    def _setquota(self, path: str, user: str, params: Any) -> Response:
        _parts, _chain, inode = self._existing(path, user)
        if not self._is_super(user):
            raise denied(f"Access denied for user {user}. Superuser privilege is required")
        values = []
        for name in ("namespacequota", "storagespacequota"):
            text = params.get(name) or str(LONG_MAX)
            try:
                value = int(text)
            except ValueError:
                raise _bad_param(name, text, "not an integer") from None
            if value < QUOTA_RESET:
                raise _bad_param(name, text, f"{value} < {QUOTA_RESET}")
            values.append(value)
        namespace, space = values
        if namespace == 0:
            raise illegal_argument(
                f"Illegal value for nsQuota or ssQuota : {namespace} and {space}"
            )
        if not inode.is_dir:
            raise not_found(f"Directory does not exist: {path}")
        if namespace != LONG_MAX:
            inode.ns_quota = namespace
        if space != LONG_MAX:
            inode.ss_quota = space
        return Response(status_code=200)

    # -- the DataNode side ---------------------------------------------------------------
    async def _datanode_create(self, request: Request, path: str, user: str) -> Response:
        """Step 2 of "Create and Write to a File": create the file (namespace checks), then
        stream the body into blocks (space checks per block); 201 with its webhdfs URI."""
        params = request.query_params
        overwrite = (params.get("overwrite") or "false").lower() == "true"
        with self._lock:
            perm = self._permission(params, 0o644)
            replication = int(params.get("replication") or self.replication)
            block_size = int(params.get("blocksize") or self.block_size)
            parts = self._split(path)
            try:
                inode, chain = self._create_file(
                    parts, path, user, perm, overwrite, replication, block_size
                )
            except RemoteError as error:
                return error.response(close=True)
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                with self._lock:
                    self._append(inode, chain, parts, chunk)
                    self.bytes_received += len(chunk)
        except RemoteError as error:
            return error.response(close=True)
        except ClientDisconnect:
            return Response(status_code=499)
        with self._lock:
            inode.under_construction = False
            inode.blocks = math.ceil(len(inode.data) / inode.block_size) if inode.data else 0
        location = f"webhdfs://127.0.0.1:{self._namenode_port}{quote(path)}"
        return Response(status_code=201, headers={"Location": location})

    def _create_file(
        self,
        parts: list[str],
        path: str,
        user: str,
        perm: int,
        overwrite: bool,
        replication: int,
        block_size: int,
    ) -> tuple[Inode, list[Inode]]:
        self._validate_names(parts, path)
        if not parts:
            raise already_exists("/ already exists as a directory")
        chain = self._resolve(parts)
        self._traverse(user, chain, parts, len(parts))
        if len(chain) == len(parts) + 1:
            existing = chain[-1]
            if existing.is_dir:
                raise already_exists(f"{path} already exists as a directory")
            if not overwrite:
                raise already_exists(f"{path} for client 127.0.0.1 already exists")
            self._require(user, chain[-2], WRITE | EXECUTE, "/" + "/".join(parts[:-1]))
            del chain[-2].children[existing.name]
            chain = chain[:-1]
        if not chain[-1].is_dir:
            raise parent_not_directory("/" + "/".join(parts[: len(chain) - 1]))
        self._require(user, chain[-1], WRITE | EXECUTE, "/" + "/".join(parts[: len(chain) - 1]))
        missing = parts[len(chain) - 1 :]
        self._check_chain(chain, parts, len(missing), 0)
        parent = chain[-1]
        for name in missing[:-1]:  # createparent=true
            parent = self._new_inode(parent, name, True, user, 0o755 | 0o300)
            chain.append(parent)
        inode = self._new_inode(parent, missing[-1], False, user, perm)
        inode.replication, inode.block_size = replication, block_size
        inode.under_construction = True
        return inode, chain

    def _append(self, inode: Inode, chain: list[Inode], parts: list[str], chunk: bytes) -> None:
        """addBlock: each new block needs room for a whole block, every replica, in every
        quota above it; the open file is charged that whole block until it is closed."""
        needed = math.ceil((len(inode.data) + len(chunk)) / inode.block_size)
        while inode.blocks < needed:
            self._check_chain(chain, parts, 0, inode.block_size * inode.replication)
            inode.blocks += 1
        inode.data += chunk

    def _datanode_open(self, path: str, user: str, params: Any) -> Response:
        """Step 2 of "Open and Read a File": the bytes, streamed."""
        with self._lock:
            _parts, _chain, inode = self._existing(path, user)
            if inode.is_dir:
                raise not_found(f"Path is not a file: {path}")
            self._require(user, inode, READ, path)
            offset = int(params.get("offset") or 0)
            length = params.get("length")
            end = len(inode.data) if length is None else offset + int(length)
            data = bytes(inode.data[offset:end])

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]
                await asyncio.sleep(0)

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={"Content-Length": str(len(data))},
        )

    # -- serving -------------------------------------------------------------------------
    def bind(self, namenode_url: str, datanode_url: str) -> None:
        self.namenode_url, self.datanode_url = namenode_url, datanode_url
        self._namenode_port = int(namenode_url.rsplit(":", 1)[1])
        self._datanode_port = int(datanode_url.rsplit(":", 1)[1])


class _Server:
    """One uvicorn server in a daemon thread on 127.0.0.1."""

    def __init__(self, app: Starlette, port: int, tls: dict[str, Any] | None) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="critical",
            access_log=False,
            lifespan="off",
            **(tls or {}),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake WebHDFS server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@contextmanager
def serve(fake: FakeHdfs, tls: dict[str, Any] | None = None) -> Iterator[FakeHdfs]:
    """Run the fake's NameNode and DataNode ports; `tls` takes uvicorn's ssl_* options."""
    scheme = "https" if tls else "http"
    namenode_port, datanode_port = free_port(), free_port()
    fake.bind(f"{scheme}://127.0.0.1:{namenode_port}", f"{scheme}://127.0.0.1:{datanode_port}")
    app = fake.app()
    servers = [_Server(app, namenode_port, tls), _Server(app, datanode_port, tls)]
    for server in servers:
        server.start()
    try:
        yield fake
    finally:
        for server in servers:
            server.stop()
