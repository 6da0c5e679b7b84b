"""Sweep files and run specs.

A sweep file (TOML) names a grid; every combination is one run::

    name = "lr-study"              # default: the file's stem
    methods = ["svip", "baseline"]
    datasets = ["cub", "awa2"]
    seeds = [0, 1, 2]
    protocol = "gbu"               # optional, as `zslbench run --protocol`
    tags = ["study-1"]             # optional, added to every run
    out = "runs"                   # optional run store root (default $ZSLBENCH_RUNS or ./runs)

    [set]                          # the same override for every run (`--set key=value`)
    "train.epochs" = 30

    [grid]                         # one value of each key per run, every combination
    "train.lr" = [3e-5, 1e-5]

    [local]                        # `--executor local` defaults (the command line wins)
    jobs = 4

    [slurm]                        # `--executor slurm` defaults (see zslbench.sweep.slurm.SlurmSettings)
    partition = "gpu"
    gpus_per_job = 1
    time = "04:00:00"

Relative ``out`` paths are relative to the sweep file's directory. The name
is a plain file name (letters, digits, ``._+-``; :func:`check_sweep_name`): the
sweep's record and logs live in ``<runs>/.sweeps/<name>``, never outside it. A
sweep has at most :data:`MAX_SWEEP_RUNS` runs, counted before the grid is expanded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from zslbench.config import build_dataclass, toml_literal
from zslbench.errors import UsageError

#: The tag prefix that identifies a run of a sweep (``run-key:<hash>``).
RUN_KEY_TAG = "run-key:"

#: The most runs one sweep file may name (methods x datasets x seeds x every [grid] list); split larger studies.
MAX_SWEEP_RUNS = 10_000

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def check_sweep_name(name: object, source: object = "sweep") -> str:
    """``name`` when it is a plain file name (no path separator, no leading dot, at most 100 characters);
    else a one-line UsageError (the name becomes the folder ``<runs>/.sweeps/<name>``)."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise UsageError(f"{source}: the sweep name {name!r} is not a plain name",
                         'use letters, digits and ._+- only, e.g. name = "lr-study"')
    return name


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the arguments of one ``zslbench run`` command."""

    method: str
    dataset: str
    seed: int = 0
    sets: tuple[str, ...] = ()  # "key=value" overrides, in command-line order
    protocol: str | None = None
    tags: tuple[str, ...] = ()
    out: str | None = None  # run store root; None: the default root

    @property
    def key(self) -> str:
        """What the run computes, hashed: method, dataset, seed, protocol and overrides (not tags or root)."""
        identity = [self.method, self.dataset, self.seed, self.protocol, sorted(self.sets)]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]

    @property
    def key_tag(self) -> str:
        return RUN_KEY_TAG + self.key

    def argv(self) -> list[str]:
        """The ``zslbench run`` command of this run (a new run; see :func:`resume_argv`)."""
        args = ["zslbench", "run", self.method, "--dataset", self.dataset, "--seed", str(self.seed)]
        if self.protocol:
            args += ["--protocol", self.protocol]
        for item in self.sets:
            args += ["--set", item]
        if self.out is not None:
            args += ["--out", str(self.out)]
        for tag in (*self.tags, self.key_tag):
            args += ["--tag", tag]
        return [*args, "--quiet"]

    def label(self) -> str:
        """Short human description: ``svip on cub, seed 0, train.lr=1e-05``."""
        extra = "".join(f", {item}" for item in self.sets)
        protocol = f", {self.protocol}" if self.protocol else ""
        return f"{self.method} on {self.dataset}, seed {self.seed}{protocol}{extra}"


def resume_argv(run_dir: Path | str) -> list[str]:
    """The command that continues an interrupted run."""
    return ["zslbench", "run", "--resume", str(run_dir), "--quiet"]


def command_line(argv: list[str]) -> str:
    """``argv`` as one shell line (what the logs and ``sweep status`` show)."""
    return shlex.join(argv)


@dataclass
class LocalSettings:
    """``--executor local``: concurrent jobs, the GPUs they share out, threads per CPU job."""

    jobs: int = 1
    gpus: list[int] | None = None  # None: every visible GPU (CUDA_VISIBLE_DEVICES / nvidia-smi)
    threads_per_job: int | None = None  # None: the CPU cores divided by jobs


@dataclass
class SlurmSettings:
    """``--executor slurm``: what every job of the array asks for (sbatch options)."""

    partition: str | None = None
    gpus_per_job: int = 0  # more than 1: the run is launched with `zslbench run --nproc N` (torchrun)
    cpus_per_task: int | None = None
    time: str | int = 60  # minutes, or Slurm's "HH:MM:SS" / "D-HH:MM:SS"
    mem: str | None = None  # Slurm syntax, e.g. "32G"
    account: str | None = None
    job_name: str | None = None  # default: zslbench-<sweep name>
    max_parallel: int = 256  # array tasks running at once (`--array=0-N%max_parallel`)
    max_requeues: int = 3  # requeues after a time-out; preemptions always requeue
    setup: list[str] = field(default_factory=list)  # shell lines before the run, e.g. "module load cuda"
    sbatch: list[str] = field(default_factory=list)  # extra sbatch options, e.g. "--qos=high"

    def time_minutes(self) -> int:
        """``time`` in whole minutes (submitit's unit)."""
        return parse_slurm_time(self.time)


def parse_slurm_time(value: str | int) -> int:
    """Minutes of a Slurm time limit: ``90``, ``"90"``, ``"04:00:00"``, ``"1-12:00:00"``, ``"30:00"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip()
    try:
        days, _, clock = text.rpartition("-")
        parts = [int(p) for p in clock.split(":")]
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, minutes, seconds = 0, parts[0], parts[1]
        elif len(parts) == 3:
            hours, minutes, seconds = parts
        else:
            raise ValueError(text)
        total = (int(days) if days else 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    except ValueError:
        raise UsageError(f"cannot read the Slurm time limit {value!r}", "use minutes or HH:MM:SS, e.g. 04:00:00") from None
    if total <= 0:
        raise UsageError(f"the Slurm time limit must be positive, got {value!r}")
    return total


@dataclass
class SweepSpec:
    """A parsed sweep file."""

    name: str
    methods: list[str]
    datasets: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    sets: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    protocol: str | None = None
    tags: list[str] = field(default_factory=list)
    out: str | None = None
    local: LocalSettings = field(default_factory=LocalSettings)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    def run_count(self) -> int:
        """How many runs the grid names (duplicates included), counted without expanding it."""
        return math.prod(len(v) for v in (self.methods, self.datasets, self.seeds, *self.grid.values()))

    def iter_runs(self) -> Iterator[RunSpec]:
        """Every run of the grid, one at a time, in a stable order (method, dataset, seed, then the grid in
        file order)."""
        fixed = [f"{key}={toml_literal(value)}" for key, value in self.sets.items()]
        keys = list(self.grid)
        for method, dataset, seed, *combo in itertools.product(self.methods, self.datasets, self.seeds,
                                                               *(self.grid[k] for k in keys)):
            varied = [f"{key}={toml_literal(value)}" for key, value in zip(keys, combo)]
            yield RunSpec(method, dataset, seed, tuple(fixed + varied), self.protocol, tuple(self.tags), self.out)

    def expand(self) -> list[RunSpec]:
        """Every run of the grid as a list (:meth:`iter_runs`)."""
        return list(self.iter_runs())


_TOP_LEVEL = {"name", "methods", "datasets", "seeds", "set", "grid", "protocol", "tags", "out", "local", "slurm"}


def _names(raw: dict, key: str, path: Path) -> list[str]:
    value = raw.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{path}: `{key}` must be a non-empty list of names", f'e.g. {key} = ["svip"]')
    return value


def _section(raw: dict, key: str, settings_type: type, path: Path) -> Any:
    section = raw.get(key, {})
    if not isinstance(section, dict):
        raise UsageError(f"{path}: [{key}] must be a table")
    try:
        return build_dataclass(settings_type, section, prefix=f"{key}.")
    except UsageError as exc:
        raise UsageError(f"{path}: {exc.message}", exc.hint) from None


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; every problem is a one-line UsageError naming the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"sweep file not found: {path}", "see docs/scaling.md for the format") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read sweep file {path}: {exc}") from None
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}", f"known: {', '.join(sorted(_TOP_LEVEL))}")
    seeds = raw.get("seeds", [0])
    if isinstance(seeds, int):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UsageError(f"{path}: `seeds` must be a non-empty list of integers", "e.g. seeds = [0, 1, 2]")
    grid = raw.get("grid", {})
    sets = raw.get("set", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise UsageError(f"{path}: every [grid] key needs a non-empty list of values", '"train.lr" = [1e-3, 1e-4]')
    if not isinstance(sets, dict) or any(isinstance(v, dict) for v in sets.values()):
        raise UsageError(f"{path}: [set] holds dotted keys with one value each", '"train.epochs" = 30')
    both = sorted(set(grid) & set(sets))
    if both:
        raise UsageError(f"{path}: {', '.join(both)} is both in [set] and in [grid]", "keep one of them")
    out = raw.get("out")
    if out is not None:
        out = str((path.parent / out).resolve()) if not Path(out).is_absolute() else str(out)
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise UsageError(f"{path}: `tags` must be a list of strings")
    local = _section(raw, "local", LocalSettings, path)
    slurm = _section(raw, "slurm", SlurmSettings, path)
    spec = SweepSpec(name=check_sweep_name(raw.get("name", path.stem), path), methods=_names(raw, "methods", path),
                     datasets=_names(raw, "datasets", path), seeds=list(dict.fromkeys(seeds)), sets=dict(sets),
                     grid=dict(grid), protocol=raw.get("protocol"), tags=list(tags), out=out, local=local,
                     slurm=slurm)
    count = spec.run_count()
    if count > MAX_SWEEP_RUNS:
        raise UsageError(f"{path}: the sweep names {count:,} runs (methods x datasets x seeds x [grid]), more than "
                         f"the limit of {MAX_SWEEP_RUNS:,}", "split it into several sweep files")
    return spec
