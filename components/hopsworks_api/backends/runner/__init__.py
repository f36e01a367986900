"""Run a user's program for a project (jobs now, notebook kernels later)."""
