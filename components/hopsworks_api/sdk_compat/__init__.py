"""The official `hopsworks` Python SDK's REST API (`/hopsworks-api/api`), translated to the
platform's own services: no domain logic lives here, only the SDK's paths and shapes."""
