"""SVIP (Chen et al., ICCV 2025) as a zslbench plugin."""

__version__ = "0.1.0"
