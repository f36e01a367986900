"""Adapters to the external systems: the ground floor of the service.

One package per system: ``base`` holds its contract (a Protocol, its value types and the
naming rules both implementations share), ``embedded`` the default that needs no server,
and one module per cluster client. `registry.build_backends` imports a cluster client only
when the settings choose it, so the package ``__init__`` files re-export the contract and
never an implementation. Backends import only leaf modules (identity, errors, config,
clock) and each other, never the services, runtime, policy or DB (checked by the
import-linter contracts in pyproject.toml).
"""
