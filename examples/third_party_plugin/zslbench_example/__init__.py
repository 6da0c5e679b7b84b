"""A minimal third-party zslbench plugin (see README.md)."""
