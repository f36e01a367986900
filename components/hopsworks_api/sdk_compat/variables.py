"""The cluster variables the SDK reads: `variables/versions` at login (a missing `hopsworks`
entry makes login fail; another minor version only warns) and `variables/{name}`, answered
as `{"successMessage": value}`.

`VARIABLES` maps a name to how its value is found (from the runtime, so a value follows the
platform's settings); a name it lacks is 404, which the SDK reads as "not set" (e.g. no
upload policy: uploads allowed). The serving variables are added by sdk_compat/serving.py.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from hopsworks_api import __version__
from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import NotFound
from hopsworks_api.paths import SDK
from hopsworks_api.runtime import Runtime

# The REST API level this layer speaks: the SDK compares major.minor with its own.
SDK_API_VERSION = "5.2.0"

VARIABLES: dict[str, Callable[[Runtime], str]] = {
    # The platform checks uploads itself (write permission, quota); no cluster-wide policy.
    "upload_policy": lambda rt: "enabled",
}

router = APIRouter(prefix=SDK, tags=["sdk"], include_in_schema=False)


@router.get("/variables/versions", name="sdk.variables.versions")
def versions(user: CurrentUser) -> list[dict[str, str]]:
    return [
        {"software": "hopsworks", "version": SDK_API_VERSION},
        {"software": "hops", "version": __version__},
    ]


@router.get("/variables/{name}", name="sdk.variables.get")
def variable(name: str, user: CurrentUser, rt: RuntimeDep) -> dict[str, str]:
    found = VARIABLES.get(name)
    if found is None:
        raise NotFound(f"variable '{name}' is not set on this platform")
    return {"successMessage": found(rt)}
