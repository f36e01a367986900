"""Metadata DB: engine, sessions, declarative base and Alembic migrations."""
