# The control service as a container image, for stacks/kubernetes (`apiImage`): `hops` and
# `python3` on PATH, running as uid 10001 (the Deployment's runAsUser), no shell needed.
#   docker build -t registry.example.org/hops/hopsworks-api:0.1.0 .
# Not built by the test suite: this machine reaches no container registry (docs/stacks-kubernetes.md).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY components ./components
RUN python -m venv /opt/hops && /opt/hops/bin/pip install --no-cache-dir '.[notebooks]'

FROM python:3.11-slim-bookworm
COPY --from=build /opt/hops /opt/hops
RUN useradd --system --uid 10001 --home-dir /var/lib/hops --create-home hops
ENV PATH=/opt/hops/bin:$PATH HOPS_DATA_DIR=/var/lib/hops HOPS_HOST=0.0.0.0
USER 10001
EXPOSE 8181
ENTRYPOINT []
CMD ["hops", "serve", "--tls"]
