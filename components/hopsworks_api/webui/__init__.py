"""The web UI: static assets built from `ui/` (npm, at build time) that the service serves."""
