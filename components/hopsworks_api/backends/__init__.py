"""One Protocol per external system, with a local (embedded) implementation."""
