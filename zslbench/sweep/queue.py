"""The queue behind ``zslbench ablate`` and ``zslbench compare --run-missing``: the sweep engine on a list of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from zslbench.sweep.engine import Job, Plan, canonical_specs, check_specs, execute_plan, raise_for_failures
from zslbench.sweep.local import InProcessExecutor, LocalExecutor, device_slots, visible_gpus
from zslbench.sweep.spec import RunSpec
from zslbench.sweep.state import sweep_dir


def run_queue(queue: Sequence[tuple[str, str, dict]], set_items: Sequence[str] = (), title: str = "runs",
              jobs: int = 1, log_name: str = "queue") -> list[Path]:
    """Train each ``(method, dataset, overrides)`` (``seed``, ``out``, ``tags``, ``protocol``) as ``zslbench run`` would.

    The engine behind ``ablate`` and ``compare --run-missing``: the caller has
    decided these runs are needed, so each is a new run. ``jobs`` 1 runs them
    in this process, more runs that many ``zslbench run`` subprocesses (one GPU
    or an even share of the CPU cores each). Every run is attempted; failures
    raise :class:`SweepFailed` at the end. Returns the run directories, in order.
    """
    from zslbench.paths import runs_dir

    specs = canonical_specs([RunSpec(method, dataset, int(o.get("seed", 0)), tuple(set_items), o.get("protocol"),
                                     tuple(o.get("tags", ())), o.get("out")) for method, dataset, o in queue])
    root = runs_dir(specs[0].out if specs else None)
    check_specs(specs)
    plan = Plan(root, [Job(spec, tuple(spec.argv())) for spec in specs])
    log_dir = sweep_dir(root, log_name) / "logs"
    executor = (InProcessExecutor(log_dir) if jobs <= 1
                else LocalExecutor(device_slots(jobs, visible_gpus()), log_dir))
    outcomes = execute_plan(plan, executor, title)
    raise_for_failures(outcomes, "run the command again")
    by_key = {o.job.key: o.run_dir for o in outcomes}
    return [by_key[spec.key] for spec in specs]
