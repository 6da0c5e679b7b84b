"""SVIP (Chen et al., ICCV 2025) as a zslbench plugin."""
