"""Control service of a Hopsworks-style multi-tenant data-science platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: a deployed wheel's carries its source hash
    # (hops_platform.sources), so instances of different code tell themselves apart.
    __version__ = version("hopsworks-iac")
except PackageNotFoundError:  # run from a bare source tree
    __version__ = "0+unknown"
