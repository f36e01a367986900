"""The SDK's error envelope, `{"errorCode", "errorMsg", "usrMsg"}` (being written by K1).

`SDK_ERROR_CODES` maps a platform error to the number the SDK tests for, keyed by the route
family and the platform's error code; the handler that renders it lives in errors.py."""

from __future__ import annotations

# (family, platform code) -> SDK errorCode; K1 and K2 add their own entries.
SDK_ERROR_CODES: dict[tuple[str, str], int] = {}
