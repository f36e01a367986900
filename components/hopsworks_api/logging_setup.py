"""Log lines for machines (JSON) or people (plain), with secrets kept out by construction
(nothing logs request bodies, headers or query strings) and terminal escape codes kept
out by escaping: a path, email or request id a client chose may hold ESC, CR or LF, which
would otherwise recolour or rewrite an operator's terminal or forge extra log lines.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from hopsworks_api.request_context import request_id

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Every control character as a visible escape (`\\x1b`, `\\n`); the rest unchanged."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return escape_controls(str(value))


def _escape_lines(text: str) -> str:
    """A traceback keeps its line breaks; every other control character is escaped."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


class RequestIdFilter(logging.Filter):
    """Every line logged while a request is served carries that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    _skip = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": escape_controls(record.getMessage()),
        }
        payload.update({k: _clean(v) for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            payload["exc"] = _escape_lines(self.formatException(record.exc_info))
        # ensure_ascii: what escaping left (non-ASCII text) is \\u-escaped, never raw bytes
        return json.dumps(payload, default=str, ensure_ascii=True)


class PlainFormatter(logging.Formatter):
    """`time level logger: message key=value ...` with the message and values escaped."""

    _skip = JsonFormatter._skip

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = f"{when} {record.levelname} {record.name}: {escape_controls(record.getMessage())}"
        extras = " ".join(
            f"{k}={_clean(v)}" for k, v in record.__dict__.items() if k not in self._skip
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{_escape_lines(self.formatException(record.exc_info))}"
        return line


def configure_logging(*, json_output: bool, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_output else PlainFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
