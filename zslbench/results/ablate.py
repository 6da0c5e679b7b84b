"""``zslbench ablate``: a method, its registered variants and its baseline, side by side.

Rows follow the SVIP paper's Table 2: the declared ablation baseline
(``MethodSpec.ablation_baseline``), every registered variant
(``MethodSpec.variant_of == method``, found in the registry, never listed
here), then the full method; columns T1 / U / S / H per dataset; the paper's
numbers (each spec's ``reference_results``) beneath each row.

Runs are reused when a complete run of the same method, dataset and seed has
exactly the configuration this command would run (``--set`` included; the
store root and tags are ignored), otherwise they are trained. ``--no-run``
only reads the store (the latest complete run per seed, whatever its config).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from zslbench import registry, results, store
from zslbench.errors import UsageError
from zslbench.results import NoRunsError, ResultTable
from zslbench.store import RunRecord

#: Config keys that do not change what a run computes.
_IGNORED_CONFIG_KEYS = ("out", "tags", "loggers")


def ablation_roles(method: str) -> list[tuple[str, str]]:
    """``(row label, method name)`` in table order: baseline, variants (sorted by name), full method."""
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    spec = registry.methods.get(method)
    name = registry.methods.canonical(method)
    variants = [e.name for e in registry.methods if getattr(e.spec, "variant_of", None) in (name, *spec.aliases)]
    roles: list[tuple[str, str]] = []
    if spec.ablation_baseline:
        if spec.ablation_baseline not in registry.methods:
            raise UsageError(f"{name} declares the ablation baseline {spec.ablation_baseline!r}, which is not registered",
                             "install the plugin that provides it (see `zslbench list methods`)")
        baseline = registry.methods.canonical(spec.ablation_baseline)
        roles.append(("baseline" if baseline == "baseline" else f"baseline ({baseline})", baseline))
    roles += [(v, v) for v in variants]
    if len(roles) == 0:
        raise UsageError(f"method {name!r} has no registered variants and no ablation baseline",
                         "a variant registers MethodSpec(..., variant_of=" + repr(name) + ")")
    roles.append((f"full ({name})", name))
    return roles


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2] (order kept, duplicates dropped)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seed = int(part)
        except ValueError:
            raise UsageError(f"--seeds expects comma-separated integers, got {text!r}", "e.g. --seeds 0,1,2") from None
        if seed not in seeds:
            seeds.append(seed)
    if not seeds:
        raise UsageError("--seeds names no seed", "e.g. --seeds 0,1,2")
    return seeds


def _comparable(config: dict) -> dict:
    """A config as stored in JSON, without the keys that do not change results."""
    plain = json.loads(json.dumps(config, default=store._json_default))
    return {k: v for k, v in plain.items() if k not in _IGNORED_CONFIG_KEYS}


def config_matches(stored: dict, wanted: dict) -> bool:
    """Whether a stored run used the configuration ``wanted`` (a ``RunConfig.to_dict()``)."""
    return _comparable(stored) == _comparable(wanted)


@dataclass
class AblationPlan:
    """Which runs are reused, which must be trained, which are missing (``--no-run``)."""

    roles: list[tuple[str, str]]
    datasets: list[str]
    seeds: list[int]
    reused: list[RunRecord] = field(default_factory=list)
    jobs: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, dataset, overrides) to run
    missing: list[tuple[str, str, int]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def plan_ablation(method: str, datasets: Sequence[str], seeds: Sequence[int], root: Path,
                  set_items: Sequence[str] = (), run: bool = True) -> AblationPlan:
    """Decide, per (row method, dataset, seed), whether a stored run is reused or a new one is needed."""
    from zslbench.runner import resolve_run

    roles = ablation_roles(method)
    methods = [m for _, m in roles]
    _, dataset_names = results.resolve_names(root, [], datasets)
    # Every complete run (not only the latest per seed): an older one may be the one with the right config.
    complete, skipped = results.usable_runs(root, methods, dataset_names)
    plan = AblationPlan(roles, dataset_names, list(seeds), skipped=skipped)
    for _, m in roles:
        for dataset in dataset_names:
            for seed in seeds:
                same = [r for r in complete if r.method == m and r.dataset == dataset and r.seed == seed]
                if run:
                    overrides = {"seed": seed, "out": str(root)}
                    wanted = resolve_run(m, dataset, None, list(set_items), overrides).config.to_dict()
                    same = [r for r in same if config_matches(r.config, wanted)]
                if same:
                    plan.reused.append(max(same, key=lambda r: r.run_id))
                elif run:
                    plan.jobs.append((m, dataset, {"seed": seed, "out": str(root)}))
                else:
                    plan.missing.append((m, dataset, seed))
    return plan


def one_group_per_row(runs: Sequence[RunRecord]) -> tuple[list[RunRecord], list[tuple[RunRecord, RunRecord]]]:
    """Per (method, dataset), the runs comparable with its latest one (same protocol and settings, any seed).

    A row of the ablation table is a mean over seeds; runs stored with other
    settings (possible with ``--no-run``) are never averaged into it. Returns
    the kept runs and ``(passed over, the latest run it differs from)``.
    """
    from zslbench.results.aggregation import group_key

    latest: dict[tuple[str, str], RunRecord] = {}
    for record in runs:
        key = (record.method, record.dataset)
        if key not in latest or record.run_id > latest[key].run_id:
            latest[key] = record
    kept, passed_over = [], []
    for record in runs:
        reference = latest[(record.method, record.dataset)]
        if group_key(record) == group_key(reference):
            kept.append(record)
        else:
            passed_over.append((record, reference))
    return kept, passed_over


def build_ablation(plan: AblationPlan, runs: Sequence[RunRecord], explicit_root: Path | None = None) -> ResultTable:
    """The ablation table of ``runs`` (reused + new), with notes naming what is missing."""
    runs, passed_over = one_group_per_row(runs)
    table = results.ablation_table(results.aggregate(runs), plan.roles, plan.datasets)
    for record, kept in passed_over:
        table.notes.append(f"not averaged in: {record.method} on {record.dataset}, seed {record.seed} "
                           f"({record.run_id}) has other settings than run {kept.run_id}")
    missing_seeds: dict[tuple[str, str], list[int]] = {}
    for m, dataset, seed in plan.missing:
        missing_seeds.setdefault((m, dataset), []).append(seed)
    for (m, dataset), seeds in missing_seeds.items():
        command = results.run_command(m, dataset, explicit_root, seeds[0])
        table.notes.append(f"missing: {m} on {dataset}, seed{'s' if len(seeds) > 1 else ''} "
                           f"{', '.join(map(str, seeds))} (`{command}`" + (", ...)" if len(seeds) > 1 else ")"))
    if plan.missing:
        table.notes.append("drop --no-run to train the missing runs")
    return table


@dataclass
class Ablation:
    """What ``ablate`` shows: the table (its notes name what is missing), the plan and the runs behind it."""

    table: ResultTable
    plan: AblationPlan
    runs: list[RunRecord]
    warnings: list[str] = field(default_factory=list)  # lines for stderr: run directories passed over

    def render(self, fmt: str = "table") -> str:
        """The table as ``ablate --format fmt`` prints it."""
        return results.render([self.table], fmt, self.plan.skipped)


def run_ablation(method: str, datasets: Sequence[str], seeds: Sequence[int], root: Path,
                 set_items: Sequence[str] = (), run: bool = True, jobs: int = 1,
                 explicit_root: Path | None = None, echo: Callable[[str], None] | None = None) -> Ablation:
    """``zslbench ablate`` as data: reuse or train (``run``) METHOD, its variants and baseline; the ablation table.

    ``echo`` receives the progress line said before runs are trained (the command prints it to stderr).
    """
    from zslbench.results.compare import run_queue

    if not run and set_items:
        raise UsageError("--set configures new runs; --no-run starts none", "drop one of them")
    plan = plan_ablation(method, datasets, seeds, root, set_items, run=run)
    warnings: list[str] = []
    results.warn_skipped(plan.skipped, warnings.append)
    runs = list(plan.reused)
    if plan.jobs:
        if echo is not None:
            for line in warnings:
                echo(line)
            warnings = []
            echo(f"ablate: reusing {len(plan.reused)} stored runs, running {len(plan.jobs)}")
        for run_dir in run_queue(plan.jobs, set_items, description="ablation runs", parallel=jobs):
            runs.append(store.read_run(run_dir))
    if not runs:
        commands = "; ".join(f"`{results.run_command(m, d, explicit_root, s)}`" for m, d, s in plan.missing[:6])
        raise NoRunsError(f"no complete runs for the ablation of {method} on {', '.join(plan.datasets)}",
                          f"drop --no-run, or run them first: {commands}")
    return Ablation(build_ablation(plan, runs, explicit_root), plan, runs, warnings)
