"""Baselines for zslbench: the ViT attribute-head baseline and classic feature-level methods."""
