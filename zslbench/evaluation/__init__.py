"""Evaluation (temporary re-export)."""

from zslbench.evaluation.single_label import *  # noqa: F401,F403
