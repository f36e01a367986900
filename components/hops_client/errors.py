"""Every failure a person sees is one line that says what to do, and a non-zero exit code."""

from __future__ import annotations

import ssl

import httpx

EXIT_ERROR = 1
"""The API refused (4xx), the server failed (5xx), or a local file problem."""
EXIT_UNREACHABLE = 3
"""The platform could not be reached (refused, unknown host, TLS, timeout)."""


class CliError(Exception):
    """A message for the person at the terminal, and the process's exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def api_error(response: httpx.Response) -> tuple[str, str]:
    """The API's own `{"error": {"code", "message"}}`, or what the body says."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        return "", text[0][:200] if text else response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))
    detail = body.get("detail") if isinstance(body, dict) else None
    return "", str(detail or response.reason_phrase)


def from_response(response: httpx.Response, profile: str | None = None) -> CliError:
    code, message = api_error(response)
    status = response.status_code
    if status == 401:
        which = f" --profile {profile}" if profile and profile != "default" else ""
        return CliError(f"not signed in ({message or 'unauthorized'}): run hops login{which}")
    if status >= 500:
        return CliError(
            f"the server failed ({status}{' ' + code if code else ''}): {message}; "
            "try again, or tell the platform's administrators"
        )
    suffix = f" ({status} {code})" if code else f" ({status})"
    return CliError(f"{message}{suffix}")


def from_transport(exc: httpx.TransportError, url: str) -> CliError:
    """Why the platform at `url` could not be reached, and what to check."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return CliError(
                f"the TLS certificate of {url} is not trusted ({cause.verify_message}): "
                "run hops login with --ca-file CA.pem (or --insecure)",
                EXIT_UNREACHABLE,
            )
        if isinstance(cause, ConnectionRefusedError):
            return CliError(
                f"cannot connect to {url}: connection refused; is the platform running there? "
                "(hops profiles ls shows the saved URLs)",
                EXIT_UNREACHABLE,
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return CliError(f"{url} did not answer in time; try again", EXIT_UNREACHABLE)
    if isinstance(exc, httpx.ConnectError):
        return CliError(f"cannot connect to {url}: {exc}", EXIT_UNREACHABLE)
    return CliError(f"the connection to {url} failed: {exc}; try again", EXIT_UNREACHABLE)
