"""The feature cache (temporary re-export while the module is split)."""

from zslbench.features.cache import *  # noqa: F401,F403
