"""The people's `hops` commands: a client of the platform's REST API (/api) over HTTP.

It never imports the server package (`hopsworks_api`): it is what a data scientist runs on
a laptop against a remote platform, and it must keep working against any server that
speaks the same API. `hops_client.cli.register` mounts its commands into the `hops` app.
"""
