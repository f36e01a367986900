"""HTTP byte ranges of a file download (RFC 9110 sections 13.1.5 and 14): which bytes a
`Range` header asks for, whether `If-Range` still allows it, and the validators (ETag,
Last-Modified) that make a resumed or parallel download safe.

Only what a downloader needs is served: one range (`a-b`, `a-`, `-n`) answers 206; several
ranges answer the whole file with 200 (a multipart/byteranges body would be a second
download format for every client to parse); a header that is not a byte range is ignored,
as the RFC asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from hopsworks_api.errors import AppError

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(AppError):
    """No byte of the file is in the range asked for (e.g. resuming a finished download)."""

    status_code, code = 416, "range_not_satisfiable"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True)
class RangeRequest:
    """The request's `Range` and `If-Range` headers, as sent."""

    range: str | None = None
    if_range: str | None = None


def etag(size: int, modified: datetime) -> str:
    """A strong validator from size and modification time (microseconds): a replaced file
    gets a new one, so a download resumed with If-Range never splices two versions."""
    micros = int(modified.replace(tzinfo=UTC).timestamp() * 1_000_000)
    return f'"{size:x}-{micros:x}"'


def last_modified(modified: datetime) -> str:
    return format_datetime(modified.replace(tzinfo=UTC, microsecond=0), usegmt=True)


def select(request: RangeRequest, size: int, modified: datetime) -> ByteRange | None:
    """The one range to serve, or None for the whole file. Raises RangeNotSatisfiable.

    `If-Range` that matches neither the current ETag nor Last-Modified means the client's
    copy is stale: it gets the whole file. An empty file has no byte to range over and is
    always served whole."""
    if request.range is None or size == 0:
        return None
    if request.if_range is not None and request.if_range.strip() not in (
        etag(size, modified),
        last_modified(modified),
    ):
        return None
    unit, _, specs = request.range.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    parts = specs.split(",")
    if len(parts) != 1:
        return None
    match = _SPEC.match(parts[0])
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None  # an invalid range-spec: ignored, not refused
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the file has {size} bytes: no byte of the range asked for is in it",
        headers={"Content-Range": f"bytes */{size}"},
    )
