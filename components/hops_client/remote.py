"""`PROJECT[/DATASET[/PATH]]`: how a person names a place on the platform."""

from __future__ import annotations

from dataclasses import dataclass

from hops_client.api import Api, quoted
from hops_client.errors import CliError


@dataclass(frozen=True)
class Remote:
    project: str
    dataset: str = ""
    path: str = ""
    """Inside the dataset, without leading or trailing slashes; "" is its top."""
    trailing_slash: bool = False

    @classmethod
    def parse(cls, text: str) -> Remote:
        cleaned = text.strip()
        parts = [part for part in cleaned.strip("/").split("/") if part]
        if not parts:
            raise CliError(f"'{text}' names no project: use PROJECT[/DATASET[/PATH]]", 2)
        if any(part in (".", "..") for part in parts):
            raise CliError(f"'{text}': '.' and '..' are not allowed in a platform path", 2)
        return cls(
            project=parts[0],
            dataset=parts[1] if len(parts) > 1 else "",
            path="/".join(parts[2:]),
            trailing_slash=cleaned.endswith("/"),
        )

    def require_dataset(self) -> Remote:
        if not self.dataset:
            raise CliError(f"'{self}' names a project, not a dataset: use PROJECT/DATASET/...", 2)
        return self

    def child(self, *names: str) -> Remote:
        path = "/".join(part for part in (self.path, *names) if part)
        return Remote(self.project, self.dataset, path)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] if self.path else self.dataset

    def files_url(self) -> str:
        base = f"/projects/{quoted(self.project)}/datasets/{quoted(self.dataset)}/files"
        return f"{base}/{quoted(self.path)}" if self.path else base

    def __str__(self) -> str:
        return "/".join(part for part in (self.project, self.dataset, self.path) if part)


@dataclass(frozen=True)
class Entry:
    """What HEAD says about a path: a directory, or a file with its size and version."""

    is_dir: bool
    size: int = 0
    etag: str | None = None
    ranges: bool = False


def stat(api: Api, remote: Remote) -> Entry | None:
    """None when nothing is there; the top of a dataset is a directory when it exists."""
    if not remote.path:
        api.request("GET", remote.files_url(), params={"limit": 1})
        return Entry(is_dir=True)
    response = api.request("HEAD", remote.files_url(), ok=(404,))
    if response.status_code == 404:
        return None
    headers = response.headers
    if headers.get("x-hops-entry-type") == "dir":
        return Entry(is_dir=True)
    return Entry(
        is_dir=False,
        size=int(headers.get("content-length", "0")),
        etag=headers.get("etag"),
        ranges=headers.get("accept-ranges") == "bytes",
    )
