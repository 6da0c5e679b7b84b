"""zslbench: a pluggable zero-shot learning benchmark toolkit."""

__version__ = "0.1.0"

from zslbench.hookspecs import hookimpl  # noqa: E402  (plugins write @zslbench.hookimpl)

__all__ = ["__version__", "hookimpl"]
