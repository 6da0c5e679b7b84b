"""Baselines for zslbench: the ViT attribute-head baseline and classic feature-level methods."""

__version__ = "0.1.0"
