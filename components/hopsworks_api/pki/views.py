"""CA routes: the public chain and CRLs, host CSR signing, and project credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from hopsworks_api import authz
from hopsworks_api.deps import CurrentUser, PrincipalDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.pki import credentials as credentials_service
from hopsworks_api.pki import service
from hopsworks_api.pki.client_configs import ClientContext, client_configs
from hopsworks_api.pki.models import ClientBundle, Credentials, HostCertificate, HostCsr

ca_router = APIRouter(prefix=API + "/ca", tags=["certificates"])
credentials_router = APIRouter(
    prefix=API + "/projects/{project}/credentials", tags=["certificates"]
)

PEM = "application/x-pem-file"


@ca_router.get("/chain", name="ca.chain", response_class=Response)
def chain(rt: RuntimeDep) -> Response:
    """Every live intermediate (newest first) and the root, PEM: the trust bundle."""
    return Response(service.chain(rt), media_type=PEM)


@ca_router.get("/crl", name="ca.crl", response_class=Response)
def crl(rt: RuntimeDep) -> Response:
    """The CRL of every intermediate, PEM, regenerated on each revocation."""
    return Response(service.crls(rt), media_type=PEM)


@ca_router.post("/hosts", status_code=status.HTTP_201_CREATED, name="ca.sign_host")
def sign_host(body: HostCsr, principal: PrincipalDep, rt: RuntimeDep) -> HostCertificate:
    """Platform admins, or agent API keys for the host names their patterns allow."""
    if principal.agent_hosts is None:
        authz.require_platform_admin(principal.user.is_admin)
    return service.sign_host_csr(rt, csr_pem=body.csr, agent_hosts=principal.agent_hosts)


@credentials_router.get("", name="credentials.read")
def project_credentials(project: str, user: CurrentUser, rt: RuntimeDep) -> Credentials:
    """The caller's own certificate, key, chain and keystores for this project."""
    return credentials_service.credentials(rt, user=user, project=project)


@credentials_router.get("/client", name="credentials.client")
def client_bundle(
    project: str,
    user: CurrentUser,
    rt: RuntimeDep,
    credentials_dir: Annotated[
        str,
        Query(
            min_length=1,
            max_length=4096,
            description="Where the client writes the files (named in the configs)",
        ),
    ],
) -> ClientBundle:
    """The caller's bundle plus ready Kafka/Spark/Hive/storage client configurations that
    name `credentials_dir`, for a program run outside the platform (`hops credentials
    write`): rendered here because the renderers need the platform's settings."""
    bundle = credentials_service.credentials(rt, user=user, project=project)
    context = ClientContext(
        project=project,
        identity=bundle.identity,
        credentials_dir=credentials_dir,
        keystore_password=bundle.keystore_password,
        truststore_password=bundle.truststore_password,
    )
    configs = client_configs(rt.settings, context)
    return ClientBundle(
        credentials=bundle, configs={name: data.decode() for name, data in configs.items()}
    )
