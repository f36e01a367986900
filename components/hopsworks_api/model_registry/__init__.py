"""The model registry: versions of a project's models, files in `Models` + metadata."""
