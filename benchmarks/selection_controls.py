"""SVIP's four selection controls on an embedded benchmark: run them, tabulate them, judge the benchmark.

Issue 13's criteria for a discriminative benchmark, over >= 3 seeds:

* mask-oracle selection beats random by >= 5 points of cs_H and of AUSUC, with
  non-overlapping mean ± std;
* every family-blind T1 ceiling is <= chance + 10 points;
* the consistency term is not negligible against the classification loss
  (reported as the ratio of the two in the last training epoch).

    python benchmarks/selection_controls.py --runs runs-controls --run --seeds 0,1,2 -j 2
    python benchmarks/selection_controls.py --runs runs-controls          # only tabulate what is stored

``--run`` trains what is missing (``zslbench run svip --protocol gbu --set
method.selection=<s> --tag controls``, OMP_NUM_THREADS=1 per run); the table
reads every complete ``controls``-tagged svip run of the dataset. Not a
pytest benchmark: it takes about a minute of CPU per run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from zslbench.data_version import stale_data_reason
from zslbench.store import RunRecord, scan_runs

SELECTIONS = ("learned", "random", "mask-oracle", "inverted")
#: What the criteria need; `inverted` is tabulated when stored (the synthetic-full sweep does not run it).
REQUIRED = ("learned", "random", "mask-oracle")
TAG = "controls"
MIN_GAP_POINTS = 5.0


def _selection(run: RunRecord) -> str:
    return str((run.config.get("method_options") or {}).get("selection", "learned"))


def control_runs(root: Path, dataset: str) -> dict[str, list[RunRecord]]:
    """Complete ``controls``-tagged svip runs of today's ``dataset`` by selection, one per seed (the latest)."""
    runs, _ = scan_runs(root, dataset, "svip")
    current = [r for r in runs if r.complete and TAG in r.tags and stale_data_reason(dataset, r.metrics) is None]
    latest: dict[tuple[str, int], RunRecord] = {}
    for run in sorted(current, key=lambda r: r.run_id):
        latest[(_selection(run), run.seed)] = run
    out: dict[str, list[RunRecord]] = {s: [] for s in SELECTIONS}
    for (selection, _), run in sorted(latest.items(), key=lambda kv: kv[0][1]):
        out.setdefault(selection, []).append(run)
    return out


def _row_values(run: RunRecord) -> dict[str, float]:
    test, families = run.metrics["test"], run.metrics.get("families", {})
    selection = run.metrics.get("patch_selection", {})
    last = run.metrics["history"][-1]["losses"]
    values = {k: 100 * float(test[k]) for k in ("t1", "u", "s", "h", "cs_h", "ausuc")}
    for name, accuracy in zip(families.get("names", []), families.get("zsl_accuracy", [])):
        values[name] = 100 * float(accuracy)
    for key in ("auroc", "precision_normalised", "recall_normalised"):
        if key in selection:
            values[key] = float(selection[key])
    values["consistency/cls"] = float(last.get("consistency", 0.0)) / float(last["cls"])
    values["train s"] = float(run.timings.get("train_seconds", float("nan")))
    return values


def summarise(runs: list[RunRecord]) -> dict[str, tuple[float, float]]:
    """Mean and sample std (ddof 1) of every row value over ``runs``."""
    rows = [_row_values(r) for r in runs]
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1
                else 0.0) for k in keys}


def _cell(value: tuple[float, float], key: str) -> str:
    mean, std = value
    if key == "consistency/cls":
        return f"{mean:.1e} ± {std:.1e}"
    digits = 2 if key in ("auroc", "precision_normalised", "recall_normalised") else 1
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(summaries: dict[str, dict[str, tuple[float, float]]], counts: dict[str, list[int]]) -> str:
    keys = list(next(iter(summaries.values())))
    lines = ["| selection | seeds | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for selection, summary in summaries.items():
        seeds = ",".join(map(str, counts[selection]))
        lines.append(f"| {selection} | {seeds} | " + " | ".join(_cell(summary[k], k) for k in keys) + " |")
    return "\n".join(lines)


def judge(summaries: dict[str, dict[str, tuple[float, float]]], runs: dict[str, list[RunRecord]]) -> list[str]:
    """One line per criterion: the measured value and whether it holds."""
    lines = []
    oracle, random = summaries["mask-oracle"], summaries["random"]
    for key in ("cs_h", "ausuc"):
        (mo, so), (mr, sr) = oracle[key], random[key]
        gap, apart = mo - mr, mo - so > mr + sr
        ok = gap >= MIN_GAP_POINTS and apart
        lines.append(f"mask-oracle - random {key}: {gap:+.1f} points ({mo:.1f} ± {so:.1f} vs {mr:.1f} ± {sr:.1f}; "
                     f"intervals {'apart' if apart else 'overlap'}): {'holds' if ok else 'NOT met'}")
    for key in ("cs_h", "ausuc"):
        by_seed = {s: {r.seed: 100 * float(r.metrics["test"][key]) for r in runs[s]} for s in ("mask-oracle", "random")}
        seeds = sorted(set(by_seed["mask-oracle"]) & set(by_seed["random"]))
        diffs = [by_seed["mask-oracle"][seed] - by_seed["random"][seed] for seed in seeds]
        if len(diffs) > 1:
            lines.append(f"paired by seed, mask-oracle - random {key}: {np.mean(diffs):+.1f} ± {np.std(diffs, ddof=1):.1f} "
                         f"(min {min(diffs):+.1f}, {sum(d > 0 for d in diffs)} of {len(diffs)} seeds ahead)")
    families = runs["learned"][0].metrics["families"]
    chance, ceilings = families["chance_t1"], families["blind_t1_ceiling"]
    ok = all(c <= chance + 0.10 + 1e-12 for c in ceilings)
    lines.append(f"family-blind ceilings {[round(100 * c, 1) for c in ceilings]} vs chance {100 * chance:.1f}: "
                 f"{'holds' if ok else 'NOT met'}")
    ratios = {s: summaries[s]["consistency/cls"][0] for s in summaries}
    lines.append("consistency / classification loss, last epoch: "
                 + ", ".join(f"{s} {r:.1e}" for s, r in ratios.items()))
    return lines


def run_missing(root: Path, dataset: str, seeds: list[int], jobs: int) -> None:
    have = {(s, r.seed) for s, rs in control_runs(root, dataset).items() for r in rs}
    todo = [(sel, seed) for seed in seeds for sel in SELECTIONS if (sel, seed) not in have]
    env = {**os.environ, "OMP_NUM_THREADS": "1" if jobs > 1 else os.environ.get("OMP_NUM_THREADS", "")}
    env = {k: v for k, v in env.items() if v != ""}

    def one(job: tuple[str, int]) -> int:
        selection, seed = job
        command = [sys.executable, "-m", "zslbench", "run", "svip", "--dataset", dataset, "--protocol", "gbu",
                   "--seed", str(seed), "--set", f"method.selection={selection}", "--tag", TAG,
                   "--out", str(root), "-q"]
        return subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode  # stderr: errors, if any

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failed = [job for job, rc in zip(todo, pool.map(one, todo)) if rc != 0]
    if failed:
        sys.exit(f"selection_controls: {len(failed)} run(s) failed: {failed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path(os.environ.get("ZSLBENCH_RUNS", "runs")))
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--run", action="store_true", help="train the missing runs first")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.run:
        run_missing(args.runs, args.dataset, [int(s) for s in args.seeds.split(",")], args.jobs)
    runs = control_runs(args.runs, args.dataset)
    missing = [s for s in REQUIRED if not runs.get(s)]
    if missing:
        print(f"selection_controls: no complete '{TAG}' run of svip with selection {missing} on {args.dataset} "
              f"in {args.runs} (add --run)", file=sys.stderr)
        return 2
    present = [s for s in SELECTIONS if runs.get(s)]
    summaries = {s: summarise(runs[s]) for s in present}
    print(markdown(summaries, {s: [r.seed for r in runs[s]] for s in present}))
    print()
    print("\n".join(judge(summaries, runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
