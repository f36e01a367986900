"""Control service of a Hopsworks-style multi-tenant data-science platform."""

__version__ = "0.1.0"
