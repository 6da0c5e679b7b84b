"""zslbench plugin: Epsilon, multi-label zero-shot learning (Liu et al., arXiv 2408.12253), as its abstract describes it."""

__version__ = "0.1.0"
