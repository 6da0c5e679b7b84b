"""A minimal third-party zslbench plugin (see README.md)."""

__version__ = "0.1.0"
