"""Jupyter notebook servers: one per member per project, reached only through the service."""
