"""Everything that reads stored runs: the commands ``compare``, ``ablate``, ``report``, ``explain`` and their plots.

* :mod:`~zslbench.results.selection` - which stored runs (latest per seed of each group, tags, --where, run ids);
* :mod:`~zslbench.results.aggregation` - groups of comparable runs (method, dataset, protocol, settings) and
  their mean and std over seeds: the rows of every table and the series of every figure;
* :mod:`~zslbench.results.settings` - the settings a row flags (non-default, or differing between rows);
* :mod:`~zslbench.results.row_notes`, :mod:`~zslbench.results.metric_choice` - notes under a table, `--metric`;
* :mod:`~zslbench.results.runs` - `zslbench runs ls/rm`;
* :mod:`~zslbench.results.rendering` - result tables as terminal table, Markdown, CSV, JSON, LaTeX;
* :mod:`~zslbench.results.compare`, :mod:`~zslbench.results.ablate`, :mod:`~zslbench.results.report`,
  :mod:`~zslbench.results.explain` - the commands as functions returning data (their click wrappers live in
  :mod:`zslbench.cli_results`: no module here imports click); :mod:`~zslbench.results.plots` - their figures.

The names of selection, aggregation and rendering are re-exported here (``results.select_runs``, ...).
"""

from zslbench.results.selection import (
    NoRunsError, Selection, canonical_names, filter_where, latest_per_seed, resolve_names, resolve_setting_key,
    run_command, select_runs, usable_runs, warn_skipped,
)
from zslbench.results.aggregation import (
    NOT_SETTINGS, MethodResult, Summary, aggregate, config_differences, differing_settings, flatten_config,
    group_key, group_runs, reference_numbers, run_settings, run_task, score_keys, setting_text,
)
from zslbench.results.rendering import (
    ABLATION_METRICS, CALIBRATED_METRICS, Cell, Column, FORMATS, LEGEND_CALIBRATED, LEGEND_NOISE, LEGEND_ORACLE,
    METRIC_LABELS, NOISE_MARK, ORACLE_METRICS, ResultTable, Row, STANDARD_METRICS, ablation_table,
    available_metrics, check_requested_metrics, comparison_tables, render, render_csv, render_latex,
    render_markdown, render_rich, tables_to_dict,
)

__all__ = [
    'ABLATION_METRICS', 'CALIBRATED_METRICS', 'Cell', 'Column', 'FORMATS', 'LEGEND_CALIBRATED', 'LEGEND_NOISE',
    'LEGEND_ORACLE', 'METRIC_LABELS', 'MethodResult', 'NOT_SETTINGS', 'differing_settings', 'filter_where',
    'group_key', 'group_runs', 'resolve_setting_key', 'run_settings', 'setting_text', 'NOISE_MARK', 'NoRunsError', 'ORACLE_METRICS', 'ResultTable',
    'Row', 'STANDARD_METRICS', 'Selection', 'Summary', 'ablation_table', 'aggregate', 'available_metrics',
    'canonical_names', 'check_requested_metrics', 'comparison_tables', 'config_differences', 'flatten_config',
    'latest_per_seed', 'reference_numbers', 'render', 'render_csv', 'render_latex', 'render_markdown',
    'render_rich', 'resolve_names', 'run_command', 'run_task', 'score_keys', 'select_runs', 'tables_to_dict',
    'usable_runs', 'warn_skipped',
]
