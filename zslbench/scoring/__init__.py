"""Scoring prediction matrices saved by other code under zslbench's protocol (``zslbench score``).

:mod:`~zslbench.scoring.readers` reads one array per file format (no code is
executed), :mod:`~zslbench.scoring.alignment` maps rows to images and columns
to classes and checks them, :mod:`~zslbench.scoring.score` computes the honest
and the test-chosen numbers and stores the run, :mod:`~zslbench.scoring.cli`
is the command. See docs/scoring.md.
"""
