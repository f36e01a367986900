"""The SDK's error envelope, `{"errorCode", "errorMsg", "usrMsg"}`, with the HTTP status
of the platform's own answer.

The SDK raises `RestAPIError` for any non-2xx answer and reads this envelope from it; a few
of its code paths compare `errorCode` with a number (a model that is not there, a duplicate
deployment, ...), so `SDK_ERROR_CODES` maps a platform error to that number, keyed by the
route family (the word after `project/{id}/` in the SDK's path, or the first word for paths
outside a project: "dataset", "kafka", "jobs", "modelregistries", "serving", "project", ...)
and the platform's error code (family `*`: any family without an entry of its own).
Anything unmapped carries `GENERIC_ERROR_CODE`. `errorMsg` is the platform's
machine-readable code, `usrMsg` its message for people.

This module imports nothing of the service: errors.py (a leaf) renders with it.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/hopsworks-api/"
GENERIC_ERROR_CODE = 120000  # Hopsworks' "generic error": the SDK tests for no such number
ANY_FAMILY = "*"  # an entry for every family that has none of its own

# (family, platform code) -> SDK errorCode; K1 and K2 add their own entries. The numbers are
# Hopsworks' RESTCodes (its documentation's "REST API Status Codes" page).
SDK_ERROR_CODES: dict[tuple[str, str], int] = {
    # K1: datasets, projects, Kafka, variables
    (ANY_FAMILY, "project_not_found"): 150004,  # PROJECT_NOT_FOUND: no project of that id
    ("dataset", "not_found"): 110008,  # INODE_NOT_FOUND
    ("dataset", "already_exists"): 110012,  # DESTINATION_EXISTS
    ("dataset", "conflict"): 110012,
    ("dataset", "not_a_directory"): 110019,  # PATH_NOT_DIRECTORY
    ("dataset", "not_a_file"): 110020,  # PATH_IS_DIRECTORY
    ("dataset", "forbidden"): 110050,  # DATASET_ACCESS_PERMISSION_DENIED
    ("project", "not_found"): 150004,  # PROJECT_NOT_FOUND
    ("project", "conflict"): 150001,  # PROJECT_EXISTS
    ("project", "forbidden"): 150068,  # PROJECT_ROLE_FORBIDDEN
    ("kafka", "not_found"): 190000,  # TOPIC_NOT_FOUND
    ("kafka", "conflict"): 190002,  # TOPIC_ALREADY_EXISTS
    ("kafka", "quota_exceeded"): 190004,  # TOPIC_LIMIT_REACHED
    ("variables", "not_found"): 100050,  # VARIABLE_NOT_FOUND
    # K2: jobs, model registry, serving (raised with these codes by sdk_compat's routes)
    ("jobs", "job_not_found"): 130009,
    ("modelregistries", "model_not_found"): 360000,
    ("serving", "deployment_not_found"): 240000,
    ("serving", "serving_exists"): 240011,
    ("serving", "conflict"): 240011,  # the same name taken by a concurrent create
}


def applies(path: str) -> bool:
    """Whether a request path belongs to the SDK's API (and gets this envelope)."""
    return path.startswith(PREFIX)


def family(path: str) -> str:
    """The route family of an SDK path: `.../project/7/dataset/x` -> "dataset",
    `.../variables/versions` -> "variables", `.../project/getProjectInfo/p` -> "project"."""
    segments = [s for s in path[len(PREFIX) :].split("/") if s]
    if segments[:1] == ["api"]:
        segments = segments[1:]
    if len(segments) >= 3 and segments[0] == "project" and segments[1].isdigit():
        return segments[2]
    return segments[0] if segments else ""


def envelope(path: str, code: str, message: str) -> dict[str, Any]:
    """The SDK's error body for the platform's error `code` answered at `path`."""
    number = SDK_ERROR_CODES.get((family(path), code)) or SDK_ERROR_CODES.get(
        (ANY_FAMILY, code), GENERIC_ERROR_CODE
    )
    return {"errorCode": number, "errorMsg": code, "usrMsg": message}
